# Evaluates modules/ with the real nixpkgs lib, the NixOS option stubs and a test
# configuration, and returns plain data: failed assertions, the settings TOML is
# rendered from, every systemd unit rendered to its unit file text as NixOS
# renders it (nixos/lib/systemd-lib.nix: toOption, attrsToSection,
# Environment="K=V"), and the nginx virtual host.
{
  libPath,
  configuration ? { },
}:
let
  lib = import libPath;
  pkgs = import ./stub-pkgs.nix { inherit lib; };

  evaluated = lib.evalModules {
    modules = [
      ./nixos-stubs.nix
      ../../modules
      { _module.args = { inherit pkgs; }; }
      configuration
    ];
  };
  config = evaluated.config;

  toOption =
    value:
    if value == true then
      "true"
    else if value == false then
      "false"
    else
      toString value;
  attrsToSection =
    attrs:
    lib.concatStrings (
      lib.concatLists (
        lib.mapAttrsToList (
          name: value: map (item: "${name}=${toOption item}\n") (lib.toList value)
        ) attrs
      )
    );
  unitSection =
    def:
    attrsToSection (
      lib.filterAttrs (_: v: v != "") {
        Description = def.description;
        After = lib.concatStringsSep " " def.after;
        Before = lib.concatStringsSep " " def.before;
        Wants = lib.concatStringsSep " " def.wants;
        Requires = lib.concatStringsSep " " def.requires;
        PartOf = lib.concatStringsSep " " def.partOf;
        X-Restart-Triggers = toString def.restartTriggers;
      }
      // def.unitConfig
    );
  serviceText =
    def:
    "[Unit]\n"
    + unitSection def
    + "\n[Service]\n"
    + lib.concatStrings (lib.mapAttrsToList (n: v: "Environment=\"${n}=${v}\"\n") def.environment)
    + attrsToSection def.serviceConfig;
  socketText =
    def:
    "[Unit]\n"
    + unitSection def
    + "\n[Socket]\n"
    + attrsToSection ({ ListenStream = def.listenStreams; } // def.socketConfig);
  timers = lib.mapAttrs' (
    name: def: lib.nameValuePair "${name}.timer" { OnCalendar = def.startAt; }
  ) (lib.filterAttrs (_: def: def.startAt != [ ]) config.systemd.services);
  failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
in
# As NixOS does before building anything: with a failed assertion, only the
# messages (the rest may not even evaluate, which is what the assertions prevent).
if failedAssertions != [ ] then
  {
    inherit failedAssertions;
    inherit (config) warnings;
  }
else
{
  inherit failedAssertions;
  warnings = config.warnings;
  settings = lib.filterAttrsRecursive (_: v: v != null) config.services.tidings.settings;
  units =
    lib.mapAttrs' (name: def: lib.nameValuePair "${name}.service" (serviceText def)) config.systemd.services
    // lib.mapAttrs' (name: def: lib.nameValuePair "${name}.socket" (socketText def)) config.systemd.sockets;
  inherit timers;
  wantedBy = lib.mapAttrs (_: def: def.wantedBy) config.systemd.services;
  firewall = config.networking.firewall.allowedTCPPorts;
  nginx = {
    inherit (config.services.nginx) enable appendHttpConfig recommendedProxySettings;
    virtualHosts = lib.mapAttrs (
      _: vhost:
      {
        inherit (vhost)
          serverAliases
          forceSSL
          enableACME
          useACMEHost
          http2
          extraConfig
          locations
          ;
      }
      // lib.optionalAttrs (!(vhost.enableACME || vhost.useACMEHost != null)) {
        inherit (vhost) sslCertificate sslCertificateKey;
      }
    ) config.services.nginx.virtualHosts;
  };
  acme = {
    inherit (config.security.acme) acceptTerms certs;
  };
  tmpfiles = config.systemd.tmpfiles.rules;
  scripts = lib.listToAttrs (
    map (package: lib.nameValuePair package.name package.text) (
      lib.filter (package: package ? text) config.environment.systemPackages
    )
  );
  unbound = config.services.unbound;
  gpu = {
    inherit (config.hardware.graphics) enable;
    inherit (config.hardware.nvidia) open;
    videoDrivers = config.services.xserver.videoDrivers;
    package = config.services.tidings.package.name;
  };
  hardening = (import ../../modules/catalogue.nix { inherit lib; }).hardening;
  catalogue = (import ../../modules/catalogue.nix { inherit lib; }).services;
}
