# The tidings appliance as NixOS modules: one option root (`services.tidings`, in
# options.nix) and one implementation module per concern.
{
  imports = [
    ./options.nix
    ./services.nix
    ./tls.nix
    ./nginx.nix
    ./resolver.nix
    ./ai.nix
    ./backup.nix
    ./admin.nix
    ./assertions.nix
  ];
}
