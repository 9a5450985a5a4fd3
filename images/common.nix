# What every tidings image shares: the services, the first-boot questions, the
# box's name on the LAN (mDNS: https://tidings.local), an SSH door for the admin.
{
  config,
  lib,
  pkgs,
  ...
}:
{
  imports = [ ./firstboot.nix ];

  system.stateVersion = "25.11";

  networking.hostName = lib.mkDefault "tidings";
  networking.useNetworkd = true;
  networking.firewall.enable = true;

  # Reachable as tidings.local from phones and laptops on the LAN.
  services.avahi = {
    enable = true;
    nssmdns4 = true;
    openFirewall = true;
    publish = {
      enable = true;
      addresses = true;
    };
  };

  services.openssh = {
    enable = true;
    settings.PasswordAuthentication = false;
  };

  services.tidings = {
    enable = true;
    # The generic image does not know its domain: first boot asks for it and
    # writes it to the site file, whose TIDINGS_* variables override these.
    domain = lib.mkDefault "tidings.local";
    hostname = lib.mkDefault "tidings.local";
    tls.mode = lib.mkDefault "local-ca";
    environmentFile = "/var/lib/tidings-site/site.env";
  };

  nix.settings.experimental-features = [
    "nix-command"
    "flakes"
  ];
  documentation.enable = false;
}
