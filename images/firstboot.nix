# First boot: the domain, the box's host name and the administrator's account,
# from systemd credentials when the image was given some (qemu `-smbios
# type=11,value=io.systemd.credential:tidings.domain=example.org`, or files in
# the ESP's /loader/credentials/), otherwise asked on the console. Written once to
# /var/lib/tidings-site/site.env (TIDINGS_DOMAIN, TIDINGS_HOSTNAME), which every
# tidings unit reads; the admin account goes straight into the accounts database.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.tidings;
  catalogue = import ../modules/catalogue.nix { inherit lib; };
  site = "/var/lib/tidings-site";
  tidings = "${lib.getExe' cfg.package "tidings"} --config ${cfg.configFile}";

  firstboot = pkgs.writeShellApplication {
    name = "tidings-firstboot";
    runtimeInputs = with pkgs; [ coreutils util-linux systemd ];
    text = ''
      credential() { cat "''${CREDENTIALS_DIRECTORY:-/nonexistent}/tidings.$1" 2>/dev/null || true; }
      ask() {
        local answer=""
        while [ -z "$answer" ]; do read -r -p "$1: " answer < /dev/tty1 > /dev/tty1 2>&1; done
        printf '%s' "$answer"
      }

      domain=$(credential domain)
      [ -n "$domain" ] || domain=$(ask "Mail domain of this box (e.g. example.org)")
      hostname=$(credential hostname)
      [ -n "$hostname" ] || hostname="mail.$domain"
      admin=$(credential admin)
      [ -n "$admin" ] || admin=$(ask "Administrator's address (e.g. you@$domain)")
      password=$(credential admin-password)
      if [ -z "$password" ]; then
        password=$(systemd-ask-password --timeout=0 "Administrator's password:")
      fi

      install -d -m 0750 -o root -g tidings ${site}
      umask 0027
      printf 'TIDINGS_DOMAIN=%s\nTIDINGS_HOSTNAME=%s\n' "$domain" "$hostname" > ${site}/site.env.new
      chgrp tidings ${site}/site.env.new
      mv ${site}/site.env.new ${site}/site.env

      install -d -m 0700 -o tidings -g tidings ${cfg.dataDir}
      set -a; . ${site}/site.env; set +a
      printf '%s\n' "$password" | runuser -u tidings -- ${tidings} user add "$admin" --admin --password-stdin
      touch ${site}/done
      echo "tidings: $hostname is ready; the admin is $admin"
    '';
  };
in
{
  # The units read the site file; it exists (empty) before first boot answers.
  systemd.tmpfiles.rules = [
    "d ${site} 0750 root tidings - -"
    "f ${site}/site.env 0640 root tidings - -"
  ];

  # Every tidings service waits for the answers (a socket may start one early).
  systemd.services = lib.mapAttrs' (
    _: service: lib.nameValuePair service.unit { after = [ "tidings-firstboot.service" ]; }
  ) (lib.filterAttrs (name: _: cfg.${name}.enable) catalogue.services)
  // {
    tidings-firstboot = {
    description = "tidings: first boot questions (domain, administrator)";
    wantedBy = [ "multi-user.target" ];
    before = [
      "tidings.target"
      "tidings-tls.service"
      "nginx.service"
    ];
    after = [ "systemd-tmpfiles-setup.service" ];
    unitConfig.ConditionPathExists = "!${site}/done";
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
      ExecStart = lib.getExe firstboot;
      ImportCredential = "tidings.*";
      StandardOutput = "journal+console";
      TimeoutStartSec = "infinity";
    };
    };
  };
}
