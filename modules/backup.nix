# Backups of the whole data directory on a timer, and the restore that puts one
# back. The two scripts (backup/*.sh) are the same files the test-suite runs
# against a real data directory (tests/nix/test_backup.py).
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

  backupCommand = pkgs.writeShellApplication {
    name = "tidings-backup";
    runtimeInputs = with pkgs; [ coreutils findutils gnutar gzip sqlite ];
    text = builtins.readFile ./backup/tidings-backup.sh;
  };
  restoreFiles = pkgs.writeShellApplication {
    name = "tidings-restore-files";
    runtimeInputs = with pkgs; [ coreutils findutils gnugrep gnutar gzip sqlite ];
    text = builtins.readFile ./backup/tidings-restore.sh;
  };
  # What the operator runs: stop everything, restore, give the files back to the
  # services' user, migrate (an older backup may predate the schema), start again.
  restoreCommand = pkgs.writeShellApplication {
    name = "tidings-restore";
    runtimeInputs = with pkgs; [ coreutils systemd util-linux ];
    text = ''
      archive=''${1:?usage: tidings-restore ARCHIVE (see ${cfg.backup.directory})}
      # Whatever happens, the services come back (on the old data if the archive
      # was refused: tidings-restore-files changes nothing then).
      trap 'systemctl start sockets.target tidings.target' EXIT
      systemctl stop tidings.target 'tidings-*.socket'
      ${lib.getExe restoreFiles} "$archive" ${cfg.dataDir}
      chown -R tidings:tidings ${cfg.dataDir}
      runuser -u tidings -- ${lib.getExe' cfg.package "tidings"} --config ${cfg.configFile} migrate
    '';
  };
in
{
  options.services.tidings.backup = {
    enable = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to archive the data directory on a timer.";
    };
    directory = mkOption {
      type = types.str;
      default = "/var/backup/tidings";
      description = ''
        Where archives go (`tidings-YYYYMMDDTHHMMSSZ.tar.gz`, mode 0600). Put it on
        another disk, or copy it off the box: a backup on the same disk does not
        survive the disk.
      '';
    };
    startAt = mkOption {
      type = types.str;
      default = "daily";
      description = "When to back up ({manpage}`systemd.time(7)` calendar event).";
    };
    keep = mkOption {
      type = types.ints.positive;
      default = 7;
      description = "How many archives to keep; older ones are deleted.";
    };
  };

  config = lib.mkIf (cfg.enable && cfg.backup.enable) {
    environment.systemPackages = [
      backupCommand
      restoreCommand
    ];

    systemd.tmpfiles.rules = [ "d ${cfg.backup.directory} 0700 tidings tidings - -" ];

    systemd.services.tidings-backup = {
      description = "tidings: back up the data directory";
      startAt = cfg.backup.startAt;
      serviceConfig = lib.mkMerge [
        catalogue.hardening.base
        catalogue.hardening.network.none
        {
          Type = "oneshot";
          ExecStart = "${lib.getExe backupCommand} ${cfg.dataDir} ${cfg.backup.directory} ${toString cfg.backup.keep}";
          User = "tidings";
          Group = "tidings";
          # SQLite's backup of a WAL database writes its -shm file.
          ReadWritePaths = [
            cfg.dataDir
            cfg.backup.directory
          ];
          Nice = 10;
          IOSchedulingClass = "idle";
        }
      ];
    };
  };
}
