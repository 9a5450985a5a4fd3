# The NixOS VM tests (`nix flake check`): each boots the appliance in a VM beside
# real peers (a client, an "internet" Postfix) and uses it the way people do.
{ pkgs, self }:
let
  run = file: pkgs.testers.runNixOSTest (import file { inherit self; });
in
{
  mail = run ./mail.nix;
  web = run ./web.nix;
  hardening = run ./hardening.nix;
}
