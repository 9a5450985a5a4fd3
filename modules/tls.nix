# Certificates for nginx (HTTPS) and for the services that terminate their own TLS
# (SMTP, IMAP). Four modes:
#   acme-http01  Let's Encrypt through nginx's HTTP-01 challenge (box reachable on port 80)
#   acme-dns01   Let's Encrypt through a DNS provider's API (a LAN box with a real domain)
#   local-ca     tidings' own CA in dataDir/tls (the default; clients trust ca.pem once)
#   manual       certificate and key files you provide (outside the Nix store)
# Keys reach the services by LoadCredential: read by systemd as root, handed to the
# unit privately, never copied into the Nix store or made group-readable.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.services.tidings;
  tls = cfg.tls;
  catalogue = import ./catalogue.nix { inherit lib; };

  isAcme = lib.hasPrefix "acme-" tls.mode;
  acmeDirectory = "/var/lib/acme/${cfg.hostname}";

  # The files systemd reads and hands over, per mode (local-ca: the ones tidings
  # itself creates in dataDir/tls, which the TLS services read directly).
  sourceFiles =
    if isAcme then
      {
        cert = "${acmeDirectory}/fullchain.pem";
        key = "${acmeDirectory}/key.pem";
      }
    else if tls.mode == "manual" then
      {
        cert = tls.certificateFile;
        key = tls.keyFile;
      }
    else
      {
        cert = "${cfg.dataDir}/tls/cert.pem";
        key = "${cfg.dataDir}/tls/key.pem";
      };

  tlsServices = lib.filterAttrs (
    name: service: service.tls && cfg.${name}.enable
  ) catalogue.services;
  tlsUnits = lib.mapAttrsToList (_: service: "${service.unit}.service") tlsServices;

  credentials = {
    LoadCredential = [
      "tls-cert.pem:${sourceFiles.cert}"
      "tls-key.pem:${sourceFiles.key}"
    ];
  };
  credentialPath = unit: file: "/run/credentials/${unit}.service/${file}";

  tidings = lib.getExe' cfg.package "tidings";

  restartOnRenewal = pkgs.writeShellScript "tidings-tls-renewed" ''
    sum=$(${pkgs.coreutils}/bin/sha256sum ${sourceFiles.cert})
    if [ -f /run/tidings-tls.sum ] && [ "$sum" != "$(cat /run/tidings-tls.sum)" ]; then
      ${pkgs.systemd}/bin/systemctl try-restart nginx.service ${lib.concatStringsSep " " tlsUnits}
    fi
    echo "$sum" > /run/tidings-tls.sum
  '';
in
{
  options.services.tidings.tls = {
    mode = mkOption {
      type = types.enum [
        "acme-http01"
        "acme-dns01"
        "local-ca"
        "manual"
      ];
      default = "local-ca";
      description = ''
        How the box gets its certificate. `acme-http01`: Let's Encrypt, validated
        over HTTP on port 80 (the box must be reachable from the Internet under
        {option}`services.tidings.hostname`). `acme-dns01`: Let's Encrypt, validated
        through your DNS provider's API — for a box on a LAN with a real domain.
        `local-ca`: a certificate from tidings' own CA (`/var/lib/tidings/tls/ca.pem`,
        which clients trust once). `manual`: files you provide.
      '';
    };

    acme = {
      email = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "admin@example.org";
        description = "Contact address for the ACME account (expiry notices).";
      };
      server = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "https://acme-staging-v02.api.letsencrypt.org/directory";
        description = "ACME directory URL; `null` keeps security.acme's default (Let's Encrypt).";
      };
      dnsProvider = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "cloudflare";
        description = "lego DNS provider code for `acme-dns01` (<https://go-acme.github.io/lego/dns/>).";
      };
      environmentFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/run/secrets/acme-dns.env";
        description = "The DNS provider's credentials for `acme-dns01`, as lego environment variables.";
      };
    };

    certificateFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/var/lib/secrets/tidings/fullchain.pem";
      description = "PEM certificate chain for `manual` mode.";
    };

    keyFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/var/lib/secrets/tidings/key.pem";
      description = "PEM private key for `manual` mode (kept outside the Nix store).";
    };

    files = mkOption {
      type = types.attrsOf types.str;
      readOnly = true;
      internal = true;
      default = sourceFiles;
      description = "The certificate and key the box serves, whatever the mode.";
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      # SMTP and IMAP read the certificate from their credentials (acme, manual)
      # or make and read their own local CA's (local-ca, the package's own mode).
      (lib.mkIf (tls.mode != "local-ca") {
        systemd.services = lib.mapAttrs' (
          _: service:
          lib.nameValuePair service.unit {
            serviceConfig = credentials;
            environment = {
              TIDINGS_TLS__CERT = credentialPath service.unit "tls-cert.pem";
              TIDINGS_TLS__KEY = credentialPath service.unit "tls-key.pem";
            };
          }
        ) tlsServices;
      })

      (lib.mkIf isAcme {
        security.acme = {
          defaults = lib.mkMerge [
            (lib.mkIf (tls.acme.email != null) { email = tls.acme.email; })
            (lib.mkIf (tls.acme.server != null) { server = tls.acme.server; })
          ];
          certs.${cfg.hostname} = lib.mkMerge [
            {
              # A renewed certificate reaches SMTP and IMAP by a restart: credentials
              # are read when a unit starts (`try-reload-or-restart`, no ExecReload).
              reloadServices = tlsUnits;
            }
            # acme-http01: nginx's enableACME declares the rest (webroot, the
            # virtual host's aliases as extra names, its group).
            (lib.mkIf (tls.mode == "acme-dns01") {
              extraDomainNames = [ "autoconfig.${cfg.domain}" ];
              inherit (tls.acme) dnsProvider environmentFile;
              group = config.services.nginx.group;
            })
          ];
        };
        systemd.services = lib.mapAttrs' (
          _: service:
          lib.nameValuePair service.unit {
            wants = [ "acme-${cfg.hostname}.service" ];
            after = [ "acme-${cfg.hostname}.service" ];
          }
        ) tlsServices;
      })

      # local-ca: the CA and the certificate exist before nginx and the TLS
      # services start (tidings renews the leaf itself when it nears expiry).
      (lib.mkIf (tls.mode == "local-ca") {
        systemd.services.tidings-tls = {
          description = "tidings: local CA and the box's certificate";
          wantedBy = [ "tidings.target" ];
          # Daily: a leaf within 30 days of expiry is reissued, and whoever holds
          # the old one restarts (credentials and TLS contexts are read at start).
          startAt = "daily";
          before = [ "nginx.service" ] ++ tlsUnits;
          restartTriggers = [ cfg.configFile ];
          serviceConfig = lib.mkMerge [
            catalogue.hardening.base
            catalogue.hardening.network.none
            {
              Type = "oneshot"; # not RemainAfterExit: the daily timer runs it again
              ExecStart = "${tidings} --config ${cfg.configFile} tls ensure";
              # `+`: outside the sandbox, as root, to restart the units.
              ExecStartPost = "+${restartOnRenewal}";
              User = "tidings";
              Group = "tidings";
              StateDirectory = "tidings";
              StateDirectoryMode = "0700";
            }
            (lib.mkIf (cfg.environmentFile != null) { EnvironmentFile = cfg.environmentFile; })
          ];
        };
        systemd.services.nginx = {
          wants = [ "tidings-tls.service" ];
          after = [ "tidings-tls.service" ];
        };
      })
    ]
  );
}
