# The administrator's first account, created once from a password file (read
# through LoadCredential, so it never enters the Nix store). Later accounts are
# made with `tidings user add` on the box or in the web UI.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.services.tidings;
  catalogue = import ./catalogue.nix { inherit lib; };
  marker = "${cfg.dataDir}/.admin-created";

  createAdmin = pkgs.writeShellScript "tidings-admin" ''
    set -euo pipefail
    tidings() { ${lib.getExe' cfg.package "tidings"} --config ${cfg.configFile} "$@"; }
    if ! tidings user list --json | ${lib.getExe pkgs.jq} -e --arg a ${lib.escapeShellArg cfg.admin.address} \
        'any(.[]; .address == $a)' >/dev/null; then
      tidings user add ${lib.escapeShellArg cfg.admin.address} --admin --password-stdin \
        < "$CREDENTIALS_DIRECTORY/admin-password"
    fi
    touch ${marker}
  '';
in
{
  options.services.tidings.admin = {
    address = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "admin@example.org";
      description = "Address of the first account, created with admin rights on first start.";
    };
    passwordFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/tidings-admin-password";
      description = ''
        File holding that account's initial password (outside the Nix store). Read
        once; change the password afterwards with `tidings user passwd`.
      '';
    };
  };

  config = lib.mkIf (cfg.enable && cfg.admin.address != null) {
    systemd.services.tidings-admin = {
      description = "tidings: create the first admin account";
      wantedBy = [ "tidings.target" ];
      unitConfig.ConditionPathExists = "!${marker}";
      serviceConfig = lib.mkMerge [
        catalogue.hardening.base
        catalogue.hardening.network.none
        {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${createAdmin}";
          User = "tidings";
          Group = "tidings";
          StateDirectory = "tidings";
          StateDirectoryMode = "0700";
          LoadCredential = [ "admin-password:${cfg.admin.passwordFile}" ];
        }
        (lib.mkIf (cfg.environmentFile != null) { EnvironmentFile = cfg.environmentFile; })
      ];
    };
  };
}
