# A local validating resolver (unbound, loopback only) for every mail DNS lookup:
# SPF/DKIM/DMARC of inbound mail and MX of outbound mail. DNS blocklists refuse
# public resolvers, and with the resolver on loopback the SMTP service's sandbox
# can deny every address but localhost.
{
  config,
  lib,
  ...
}:
let
  cfg = config.services.tidings;
  address = "127.0.0.1";
  port = 5335; # not 53: the LAN's own resolver may run there; not 5353: mDNS
in
{
  options.services.tidings.resolver.enable = lib.mkOption {
    type = lib.types.bool;
    default = true;
    description = ''
      Whether to run unbound on ${address}:${toString port} for the mail services'
      DNS lookups. Turning it off requires `settings.mail.dns_resolver` to name
      another resolver on loopback (the SMTP sandbox allows only localhost).
    '';
  };

  config = lib.mkIf (cfg.enable && cfg.resolver.enable) {
    services.unbound = {
      enable = true;
      resolveLocalQueries = false;
      enableRootTrustAnchor = true;
      settings.server = {
        interface = [ "${address}@${toString port}" ];
        access-control = [ "127.0.0.0/8 allow" ];
      };
    };
    services.tidings.settings.mail.dns_resolver = lib.mkDefault "${address}:${toString port}";
    systemd.services = lib.genAttrs [ "tidings-smtp" "tidings-outbound" ] (
      _: {
        wants = [ "unbound.service" ];
        after = [ "unbound.service" ];
      }
    );
  };
}
