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
in
{
  services = lib.mapAttrs normalise (withoutComments (readJSON ./services.json));

  hardening = {
    base = hardeningJSON.base;
    network = hardeningJSON.network;
    gpu = withoutComments hardeningJSON.gpu;
    targets = withoutComments hardeningJSON.targets;
  };
}
