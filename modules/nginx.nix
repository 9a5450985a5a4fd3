# nginx, the front door: HTTPS with HTTP/2 and HSTS for every HTTP service, HTTP
# redirected to HTTPS, per-client rate limits, WebSocket upgrades where a route
# needs them. Routes come from the catalogue (services.json): each enabled
# service's public paths go to its loopback endpoint.
{
  config,
  lib,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.services.tidings;
  catalogue = import ./catalogue.nix { inherit lib; };
  tls = cfg.tls;

  enabled = lib.filterAttrs (name: _: cfg.${name}.enable) catalogue.services;

  # An HTTP service has one endpoint; `strip` drops the route's prefix (nginx
  # replaces the matched location with the URI part of proxy_pass).
  location =
    service: route:
    let
      endpoint = lib.head (lib.attrValues service.endpoints);
      upstream = "http://${endpoint.address}:${toString endpoint.port}";
    in
    lib.nameValuePair route.path {
      proxyPass = if route.strip then "${upstream}/" else upstream;
      proxyWebsockets = route.websocket;
      extraConfig = ''
        limit_req zone=tidings burst=${toString cfg.nginx.rateLimit.burst} nodelay;
      '';
    };

  locations = lib.listToAttrs (
    lib.concatLists (
      lib.mapAttrsToList (_: service: map (location service) service.routes) enabled
    )
  );

  credentialDirectory = "/run/credentials/nginx.service";
  usesCredentials = tls.mode == "local-ca" || tls.mode == "manual";
in
{
  options.services.tidings.nginx = {
    rateLimit = {
      rate = mkOption {
        type = types.str;
        default = "20r/s";
        description = "Sustained request rate per client address (nginx `limit_req_zone` rate).";
      };
      burst = mkOption {
        type = types.ints.positive;
        default = 60;
        description = "Requests a client may make above the rate before getting 429.";
      };
    };
    hstsMaxAge = mkOption {
      type = types.ints.unsigned;
      default = 31536000;
      description = "`max-age` of the Strict-Transport-Security header, in seconds.";
    };
  };

  config = lib.mkIf cfg.enable {
    services.nginx = {
      enable = true;
      recommendedTlsSettings = true;
      recommendedProxySettings = true;
      recommendedOptimisation = true;
      recommendedGzipSettings = true;
      appendHttpConfig = ''
        limit_req_zone $binary_remote_addr zone=tidings:10m rate=${cfg.nginx.rateLimit.rate};
        limit_req_status 429;
      '';
      virtualHosts.${cfg.hostname} = lib.mkMerge [
        {
          serverAliases = [ "autoconfig.${cfg.domain}" ];
          default = true;
          forceSSL = true;
          http2 = true;
          inherit locations;
          extraConfig = ''
            add_header Strict-Transport-Security "max-age=${toString cfg.nginx.hstsMaxAge}" always;
            client_max_body_size 64m;
          '';
        }
        (lib.mkIf (tls.mode == "acme-http01") { enableACME = true; })
        (lib.mkIf (tls.mode == "acme-dns01") { useACMEHost = cfg.hostname; })
        (lib.mkIf usesCredentials {
          sslCertificate = "${credentialDirectory}/tidings-cert.pem";
          sslCertificateKey = "${credentialDirectory}/tidings-key.pem";
        })
      ];
    };

    # nginx reads the key from its own credentials (root reads the file, the
    # worker user never gets access to dataDir or the operator's key file).
    systemd.services.nginx.serviceConfig = lib.mkIf usesCredentials {
      LoadCredential = [
        "tidings-cert.pem:${tls.files.cert}"
        "tidings-key.pem:${tls.files.key}"
      ];
    };

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [
      80
      443
    ];
  };
}
