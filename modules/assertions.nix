# Configurations that would build but not work, refused at evaluation with a
# message that says what to change.
{
  config,
  lib,
  ...
}:
let
  cfg = config.services.tidings;
  tls = cfg.tls;
  # The same rule as tidings.core.config (Settings._dns_name).
  label = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
  isDnsName = name: builtins.match "${label}(\\.${label})*" (lib.toLower name) != null;
  inStore = path: path != null && lib.hasPrefix builtins.storeDir (toString path);
  isLoopback = endpoint: builtins.match "(127[.][0-9.]+|[[]::1[]]|localhost):[0-9]+" endpoint != null;
  settingsHas = path: lib.hasAttrByPath path cfg.settings && lib.getAttrFromPath path cfg.settings != null;

  # Settings that are secrets: in `settings` they would be copied, world-readable,
  # into the Nix store.
  secretSettings = [
    [ "database_url" ]
    [ "ai" "api_key" ]
    [ "mail" "smarthost" "password" ]
  ];
  envName = path: "TIDINGS_" + lib.concatMapStringsSep "__" lib.toUpper path;
in
{
  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = isDnsName cfg.domain;
        message = "services.tidings.domain = \"${cfg.domain}\" is not a DNS name (expected something like example.org).";
      }
      {
        assertion = isDnsName cfg.hostname;
        message = "services.tidings.hostname = \"${cfg.hostname}\" is not a DNS name (expected something like mail.example.org).";
      }
      {
        assertion = lib.hasPrefix "acme-" tls.mode -> config.security.acme.acceptTerms;
        message = "services.tidings.tls.mode = \"${tls.mode}\" asks Let's Encrypt for a certificate: read https://letsencrypt.org/repository/ and set security.acme.acceptTerms = true.";
      }
      {
        assertion = lib.hasPrefix "acme-" tls.mode -> tls.acme.email != null || config.security.acme.defaults.email != null;
        message = "services.tidings.tls.mode = \"${tls.mode}\" needs a contact address for the ACME account: set services.tidings.tls.acme.email.";
      }
      {
        assertion = tls.mode == "acme-dns01" -> tls.acme.dnsProvider != null && tls.acme.environmentFile != null;
        message = "services.tidings.tls.mode = \"acme-dns01\" needs services.tidings.tls.acme.dnsProvider (a lego provider code such as \"cloudflare\") and services.tidings.tls.acme.environmentFile (that provider's API credentials).";
      }
      {
        assertion = tls.mode == "manual" -> tls.certificateFile != null && tls.keyFile != null;
        message = "services.tidings.tls.mode = \"manual\" needs services.tidings.tls.certificateFile and services.tidings.tls.keyFile.";
      }
      {
        assertion = !(inStore tls.keyFile) && !(inStore tls.acme.environmentFile) && !(inStore cfg.environmentFile) && !(inStore cfg.admin.passwordFile);
        message = "A secret of services.tidings (tls.keyFile, tls.acme.environmentFile, environmentFile or admin.passwordFile) is a path in the Nix store, which every user can read: give it as a string naming a file outside the store, e.g. \"/run/secrets/...\".";
      }
      {
        assertion = cfg.admin.address != null -> cfg.admin.passwordFile != null;
        message = "services.tidings.admin.address is set but services.tidings.admin.passwordFile is not: the first account needs an initial password.";
      }
      {
        assertion = cfg.admin.address != null -> lib.hasSuffix "@${cfg.domain}" (lib.toLower cfg.admin.address);
        message = "services.tidings.admin.address = \"${toString cfg.admin.address}\" is not an address of services.tidings.domain (\"${cfg.domain}\").";
      }
      {
        assertion = cfg.smtp.enable -> isLoopback (cfg.settings.mail.dns_resolver or "");
        message = "services.tidings: the SMTP service may only reach localhost (its sandbox denies other addresses), so its DNS checks need a resolver on loopback: keep services.tidings.resolver.enable = true, or set services.tidings.settings.mail.dns_resolver to one such as \"127.0.0.1:53\".";
      }
      {
        assertion = cfg.mcp-mail.enable -> cfg.mail-api.enable;
        message = "services.tidings.mcp-mail needs services.tidings.mail-api: the MCP mail tools act through the mail REST API.";
      }
    ]
    ++ map (path: {
      assertion = !(settingsHas path);
      message = "services.tidings.settings.${lib.concatStringsSep "." path} is a secret and would be copied, world-readable, into the Nix store: put ${envName path}=... in the file named by services.tidings.environmentFile instead.";
    }) secretSettings;

    warnings = lib.optional (cfg.gpu != "none" && !cfg.ai.enable) "services.tidings.gpu = \"${cfg.gpu}\" installs GPU drivers, but the assistant (services.tidings.ai.enable) is off.";
  };
}
