# The one option root, `services.tidings`: what an operator sets. The implementation
# lives in the other modules of this directory, one per concern.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types literalExpression;
  cfg = config.services.tidings;
  catalogue = import ./catalogue.nix { inherit lib; };
  settingsFormat = pkgs.formats.toml { };

  serviceOptions =
    name: service:
    {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Whether to run `tidings serve ${name}` (${service.description}).";
      };
    };
in
{
  options.services.tidings = {
    enable = lib.mkEnableOption "tidings, the mail, chat, calendar and contacts appliance you talk to";

    package = lib.mkPackageOption pkgs "tidings" { };

    domain = mkOption {
      type = types.str;
      example = "example.org";
      description = ''
        The mail domain this box serves: addresses are `user@domain`. Also the
        `domain` key of the generated configuration.
      '';
    };

    hostname = mkOption {
      type = types.str;
      default = "mail.${cfg.domain}";
      defaultText = literalExpression ''"mail.''${config.services.tidings.domain}"'';
      example = "tidings.example.org";
      description = ''
        The name clients use to reach the box: the HTTPS virtual host, the name in
        the TLS certificate and in the SMTP banner.
      '';
    };

    dataDir = mkOption {
      type = types.str;
      default = "/var/lib/tidings";
      readOnly = true;
      description = ''
        Where all state lives (accounts database, Maildirs, queue, DKIM keys, local
        CA). It is the `StateDirectory=` of every unit, so it cannot be moved.
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Whether to open the public ports: HTTP and HTTPS (nginx) and the SMTP and
        IMAP ports of the enabled services.
      '';
    };

    settings = mkOption {
      type = types.submodule { freeformType = settingsFormat.type; };
      default = { };
      example = literalExpression ''
        {
          mail.smarthost = { host = "smtp.provider.example"; port = 587; username = "me"; };
          ai.default_language = "fr";
        }
      '';
      description = ''
        The tidings configuration (docs/configuration.md), rendered to the TOML file
        every service reads (RFC 42 freeform settings). The modules fill in the
        appliance's own keys (domain, data directory, listeners, resolver, model);
        anything else is yours. Secrets never go here (the file is world-readable
        in the Nix store): put them in {option}`services.tidings.environmentFile`
        as `TIDINGS_SECTION__KEY=value` lines.
      '';
    };

    configFile = mkOption {
      type = types.path;
      readOnly = true;
      default = settingsFormat.generate "tidings.toml" (
        lib.filterAttrsRecursive (_: value: value != null) cfg.settings
      );
      defaultText = literalExpression "the TOML rendering of services.tidings.settings";
      description = "The generated configuration file (`tidings --config FILE`).";
    };

    environmentFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/tidings.env";
      description = ''
        A file of `TIDINGS_*` environment variables for secrets (for example
        `TIDINGS_MAIL__SMARTHOST__PASSWORD=...`, `TIDINGS_AI__API_KEY=...`), read by
        every service at start. It stays outside the Nix store.
      '';
    };

    gpu = mkOption {
      type = types.enum [
        "none"
        "cuda"
        "vulkan"
      ];
      default = "none";
      description = ''
        Where the assistant's model runs: `none` (CPU), `cuda` (NVIDIA driver and a
        CUDA build of llama.cpp) or `vulkan` (Mesa or vendor Vulkan drivers and a
        Vulkan build). Setting it also offloads every layer to the GPU.
      '';
    };
  }
  // lib.mapAttrs serviceOptions catalogue.services;
}
