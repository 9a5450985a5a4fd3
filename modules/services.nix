# One hardened systemd service per catalogue entry (services.json), its listening
# sockets (socket activation: the services never bind a port themselves, so none
# needs root or CAP_NET_BIND_SERVICE), the user they share, and the settings keys
# the appliance owns.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.tidings;
  catalogue = import ./catalogue.nix { inherit lib; };
  inherit (catalogue) hardening;

  enabled = lib.filterAttrs (name: _: cfg.${name}.enable) catalogue.services;
  tidings = lib.getExe' cfg.package "tidings";

  socketUnit = endpoint: "tidings-${lib.replaceStrings [ "_" ] [ "-" ] endpoint}";
  socketsOf = service: map socketUnit (lib.attrNames service.endpoints);

  # The sandbox: the shared base, what the network class allows, and for the
  # assistant the devices of the chosen GPU. Attribute-level `//` on purpose: the
  # GPU entry replaces `PrivateDevices`/`DeviceAllow`, it does not merge with them.
  sandbox =
    service:
    hardening.base
    // hardening.network.${service.network}
    // lib.optionalAttrs (service.gpu && cfg.gpu != "none") hardening.gpu.${cfg.gpu};

  # Where the box's own clients (the status page, the assistant's MCP client) reach
  # an endpoint. Public ones are bound by their socket on every address.
  loopbackEndpoint =
    endpoint: "${if endpoint.public then "127.0.0.1" else endpoint.address}:${toString endpoint.port}";

  serviceUnit = name: service: {
    description = "tidings ${name}: ${service.description}";
    wantedBy = [ "tidings.target" ];
    partOf = [ "tidings.target" ];
    after = [ "network.target" ] ++ map (s: "${s}.socket") (socketsOf service);
    requires = map (s: "${s}.socket") (socketsOf service);
    restartTriggers = [ cfg.configFile ];
    serviceConfig = lib.mkMerge [
      (sandbox service)
      {
        Type = "notify";
        NotifyAccess = "main";
        ExecStart = "${tidings} --config ${cfg.configFile} serve ${name}";
        User = "tidings";
        Group = "tidings";
        StateDirectory = "tidings";
        StateDirectoryMode = "0700";
        WorkingDirectory = cfg.dataDir;
        Restart = "on-failure";
        RestartSec = 5;
        # Ready means listening; the assistant first loads its model (a 7B one on a
        # slow disk takes minutes).
        TimeoutStartSec = if service.gpu then "15min" else "2min";
      }
      (lib.mkIf (service.endpoints != { }) {
        Sockets = map (s: "${s}.socket") (socketsOf service);
      })
      (lib.mkIf (cfg.environmentFile != null) { EnvironmentFile = cfg.environmentFile; })
    ];
  };

  socketUnits =
    name: service:
    lib.mapAttrs' (
      endpointName: endpoint:
      lib.nameValuePair (socketUnit endpointName) {
        description = "tidings ${name}: the ${endpointName} endpoint";
        wantedBy = [ "sockets.target" ];
        partOf = [ "tidings.target" ];
        listenStreams = [ "${endpoint.address}:${toString endpoint.port}" ];
        socketConfig = {
          FileDescriptorName = endpointName;
          Service = "${service.unit}.service";
        }
        // lib.optionalAttrs endpoint.public { BindIPv6Only = "both"; };
      }
    ) service.endpoints;

  # `tidings` for the operator's shell: runs as the services' user with their
  # configuration, so files it creates belong to them.
  adminCommand = pkgs.writeShellScriptBin "tidings" ''
    set -a
    ${lib.optionalString (cfg.environmentFile != null) ''. ${lib.escapeShellArg cfg.environmentFile}''}
    set +a
    if [ "$(id -u)" = 0 ]; then
      exec ${pkgs.util-linux}/bin/runuser -u tidings -- ${tidings} --config ${cfg.configFile} "$@"
    fi
    exec ${tidings} --config ${cfg.configFile} "$@"
  '';
in
{
  config = lib.mkIf cfg.enable {
    services.tidings.settings = {
      inherit (cfg) domain hostname;
      data_dir = cfg.dataDir;
      listen = lib.mkMerge (
        lib.mapAttrsToList (
          _: service: lib.mapAttrs (_: loopbackEndpoint) service.endpoints
        ) catalogue.services
      );
    };

    systemd.targets.tidings = {
      description = "tidings: every service of the appliance";
      wantedBy = [ "multi-user.target" ];
    };
    systemd.services = lib.mapAttrs' (
      name: service: lib.nameValuePair service.unit (serviceUnit name service)
    ) enabled;
    systemd.sockets = lib.mkMerge (lib.mapAttrsToList socketUnits enabled);

    users.users.tidings = {
      isSystemUser = true;
      group = "tidings";
      home = cfg.dataDir;
      description = "tidings services";
    };
    users.groups.tidings = { };

    environment.systemPackages = [ adminCommand ];
    # What the box promises, for the acceptance suite (vm-tests/testinfra) on the box.
    environment.etc."tidings/services.json".source = ./services.json;
    environment.etc."tidings/hardening.json".source = ./hardening.json;

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall (
      lib.concatLists (
        lib.mapAttrsToList (
          _: service:
          lib.mapAttrsToList (_: endpoint: endpoint.port) (
            lib.filterAttrs (_: endpoint: endpoint.public) service.endpoints
          )
        ) enabled
      )
    );
  };
}
