# A test-only declaration of the NixOS options the tidings modules set, so the
# modules evaluate with the real nixpkgs `lib` (module system, types, priorities,
# assertions) on a machine without nixpkgs. Typed as nixpkgs types them where
# that is cheap (systemd unit sections merge exactly as nixos/lib/systemd-unit-options.nix
# merges them; nginx and ACME options copy the names and types of
# nixos/modules/services/web-servers/nginx/vhost-options.nix and security/acme), freeform where not.
# Only `nix flake check` with the real NixOS modules proves more.
{ lib, ... }:
let
  inherit (lib) mkOption types;
  opt = type: default: mkOption { inherit type default; };
  strList = opt (types.listOf types.str) [ ];

  # nixos/lib/systemd-unit-options.nix: repeatable settings are lists that
  # concatenate; anything else must be defined once (or equally).
  unitOption = lib.mkOptionType {
    name = "systemd option";
    merge =
      loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if lib.any (def: lib.isList def.value) defs' then
        lib.concatMap (def: lib.toList def.value) defs'
      else
        lib.mergeEqualOption loc defs';
  };
  section = opt (types.attrsOf unitOption) { };

  unit = types.submodule {
    options = {
      enable = opt types.bool true;
      description = opt types.str "";
      wantedBy = strList;
      requiredBy = strList;
      partOf = strList;
      after = strList;
      before = strList;
      wants = strList;
      requires = strList;
      bindsTo = strList;
      environment = opt (types.attrsOf types.str) { };
      restartTriggers = opt (types.listOf types.unspecified) [ ];
      startAt = opt (types.either types.str (types.listOf types.str)) [ ];
      unitConfig = section;
      serviceConfig = section;
      socketConfig = section;
      timerConfig = section;
      listenStreams = strList;
      script = opt types.lines "";
    };
  };

  location = types.submodule {
    options = {
      proxyPass = opt (types.nullOr types.str) null;
      proxyWebsockets = opt types.bool false;
      return = opt (types.nullOr types.str) null;
      extraConfig = opt types.lines "";
      priority = opt types.int 1000;
    };
  };
  virtualHost = types.submodule {
    options = {
      serverName = opt (types.nullOr types.str) null;
      serverAliases = strList;
      default = opt types.bool false;
      forceSSL = opt types.bool false;
      addSSL = opt types.bool false;
      onlySSL = opt types.bool false;
      enableACME = opt types.bool false;
      useACMEHost = opt (types.nullOr types.str) null;
      http2 = opt types.bool true;
      sslCertificate = mkOption { type = types.path; };
      sslCertificateKey = mkOption { type = types.path; };
      extraConfig = opt types.lines "";
      locations = opt (types.attrsOf location) { };
    };
  };

  acmeInheritable = {
    email = opt (types.nullOr types.str) null;
    server = opt (types.nullOr types.str) null;
    group = opt types.str "acme";
    reloadServices = strList;
    dnsProvider = opt (types.nullOr types.str) null;
    environmentFile = opt (types.nullOr types.path) null;
    webroot = opt (types.nullOr types.str) null;
  };
  acmeCert = types.submodule (
    { name, ... }:
    {
      options = acmeInheritable // {
        domain = opt types.str name;
        extraDomainNames = strList;
        directory = opt types.str "/var/lib/acme/${name}";
      };
    }
  );

  freeform = opt (types.submodule { freeformType = types.attrsOf types.anything; }) { };
in
{
  options = {
    assertions = opt (types.listOf types.unspecified) [ ];
    warnings = strList;

    systemd = {
      services = opt (types.attrsOf unit) { };
      sockets = opt (types.attrsOf unit) { };
      targets = opt (types.attrsOf unit) { };
      timers = opt (types.attrsOf unit) { };
      tmpfiles.rules = strList;
    };

    users = {
      users = opt (types.attrsOf (types.submodule { freeformType = types.attrsOf types.anything; })) { };
      groups = opt (types.attrsOf (types.submodule { freeformType = types.attrsOf types.anything; })) { };
    };

    networking.firewall.allowedTCPPorts = opt (types.listOf types.port) [ ];
    environment.systemPackages = opt (types.listOf types.package) [ ];
    environment.etc = opt (types.attrsOf (types.submodule { freeformType = types.attrsOf types.anything; })) { };

    services.nginx = {
      enable = opt types.bool false;
      group = opt types.str "nginx";
      recommendedTlsSettings = opt types.bool false;
      recommendedProxySettings = opt types.bool false;
      recommendedOptimisation = opt types.bool false;
      recommendedGzipSettings = opt types.bool false;
      appendHttpConfig = opt types.lines "";
      virtualHosts = opt (types.attrsOf virtualHost) { };
    };

    security.acme = {
      acceptTerms = opt types.bool false;
      defaults = opt (types.submodule { options = acmeInheritable; }) { };
      certs = opt (types.attrsOf acmeCert) { };
    };

    services.unbound = freeform;
    services.xserver.videoDrivers = strList;
    hardware.graphics.enable = opt types.bool false;
    hardware.nvidia.open = opt (types.nullOr types.bool) null;
  };
}
