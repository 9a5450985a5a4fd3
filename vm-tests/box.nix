# The tidings box as the VM tests run it: example.org with a local CA, Alice as
# the first admin, and a resolver that answers for the test network's names
# (there is no Internet in a VM test).
{
  self,
  extraConfig ? { },
}:
{
  nodes,
  lib,
  pkgs,
  ...
}:
{
  imports = [
    self.nixosModules.default
    extraConfig
  ];

  virtualisation = {
    memorySize = 3072;
    cores = 2;
    diskSize = 4096;
  };

  services.tidings = {
    enable = true;
    domain = "example.org";
    hostname = "mail.example.org";
    admin = {
      address = "alice@example.org";
      passwordFile = "/run/keys/alice-password";
    };
    # Retries within the test's patience rather than the Internet's.
    settings.mail.outbound.retry_first_seconds = 5;
  };
  systemd.tmpfiles.rules = [ "f /run/keys/alice-password 0600 root root - correct-horse-battery" ];

  services.unbound.settings.server = {
    local-zone = [
      "\"internet.test.\" static"
      "\"example.org.\" static"
    ];
    local-data = [
      "\"internet.test. IN MX 10 mx.internet.test.\""
      "\"mx.internet.test. IN A ${nodes.internet.networking.primaryIPAddress or "192.0.2.1"}\""
      "\"example.org. IN MX 10 mail.example.org.\""
      "\"mail.example.org. IN A ${nodes.box.networking.primaryIPAddress}\""
    ];
  };

  environment.systemPackages = [
    pkgs.curl
    pkgs.openssl
    (pkgs.python3.withPackages (ps: [
      ps.pytest
      ps.pytest-testinfra
    ]))
  ];
}
