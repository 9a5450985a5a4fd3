# The service catalogue (services.json) and sandbox (hardening.json) as Nix values,
# with the defaults every entry may leave out. Pure data: no pkgs, no config, so the
# tests read exactly what the modules read.
{ lib }:
let
  withoutComments = lib.filterAttrs (name: _: !lib.hasPrefix "_" name);
  readJSON = file: builtins.fromJSON (builtins.readFile file);

  normaliseEndpoint = _name: endpoint: { public = false; } // endpoint;
  normaliseRoute =
    route:
    {
      strip = false;
      websocket = false;
    }
    // route;
  normalise =
    name: service:
    {
      tls = false;
      gpu = false;
      routes = [ ];
    }
    // service
    // {
      inherit name;
      unit = "tidings-${name}";
      endpoints = lib.mapAttrs normaliseEndpoint service.endpoints;
      routes = map normaliseRoute (service.routes or [ ]);
    };

  hardeningJSON = readJSON ./hardening.json;
  services = withoutComments (readJSON ./services.json);
  # Each service gets `services.tidings.<name>.enable`: a name must not shadow one
  # of the option root's own options.
  reserved = [
    "enable" "package" "domain" "hostname" "dataDir" "openFirewall" "settings"
    "configFile" "environmentFile" "gpu" "tls" "nginx" "resolver" "backup" "admin"
  ];
  clashes = lib.intersectLists reserved (lib.attrNames services);
in
assert lib.assertMsg (clashes == [ ])
  "modules/services.json: service name(s) ${toString clashes} would shadow services.tidings options";
{
  services = lib.mapAttrs normalise services;

  hardening = {
    base = hardeningJSON.base;
    network = hardeningJSON.network;
    gpu = withoutComments hardeningJSON.gpu;
    targets = withoutComments hardeningJSON.targets;
  };
}
