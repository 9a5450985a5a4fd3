# Stand-ins for the NixOS options images/common.nix sets beyond those of
# nixos-stubs.nix (avahi, openssh, networking, nix, documentation), so the image's
# own wiring (first boot, the site file) evaluates with the modules.
{ lib, ... }:
let
  inherit (lib) mkOption types;
  freeform = mkOption {
    type = types.submodule { freeformType = types.attrsOf types.anything; };
    default = { };
  };
in
{
  options = {
    services.avahi = freeform;
    services.openssh = freeform;
    nix.settings = freeform;
    networking.hostName = mkOption { type = types.str; };
    networking.useNetworkd = mkOption { type = types.bool; };
    networking.firewall.enable = mkOption { type = types.bool; };
    documentation.enable = mkOption { type = types.bool; };
    system.stateVersion = mkOption { type = types.str; };
  };
}
