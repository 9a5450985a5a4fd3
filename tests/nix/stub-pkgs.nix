# The few packages the modules name, as store-path-shaped stand-ins (nothing is
# built here), and `formats.toml` with nixpkgs' value type; the tests render the
# TOML themselves from the evaluated settings.
{ lib }:
let
  fake =
    name:
    {
      type = "derivation";
      inherit name;
      outPath = "/nix/store/${lib.substring 0 32 (builtins.hashString "sha256" name)}-${name}";
      meta.mainProgram = name;
    };
  tidings =
    args:
    fake (
      "tidings-0.1.0"
      + lib.optionalString (args.cudaSupport or false) "-cuda"
      + lib.optionalString (args.vulkanSupport or false) "-vulkan"
    )
    // {
      override = more: tidings (args // more);
      meta.mainProgram = "tidings";
      inherit args;
    };
in
{
  tidings = tidings { };
  tidings-model-gemma3-270m = fake "gemma-3-270m-q4_k_m.gguf";

  formats.toml =
    { }:
    {
      # pkgs/pkgs-lib/formats.nix: TOML values are JSON values
      type =
        let
          valueType =
            types.nullOr (
              types.oneOf [
                types.bool
                types.int
                types.float
                types.str
                types.path
                (types.attrsOf valueType)
                (types.listOf valueType)
              ]
            )
            // {
              description = "TOML value";
            };
          types = lib.types;
        in
        valueType;
      generate = name: _value: "/nix/store/${lib.substring 0 32 (builtins.hashString "sha256" name)}-${name}";
    };

  # The script text is kept, so the tests can shellcheck what would be built.
  writeShellScriptBin = name: text: fake name // { inherit text; };
  writeShellScript = name: text: fake name // { inherit text; };
  writeShellApplication = { name, text, ... }: fake name // { inherit text; };

  util-linux = fake "util-linux";
  jq = fake "jq" // { meta.mainProgram = "jq"; };
  coreutils = fake "coreutils";
  findutils = fake "findutils";
  gnugrep = fake "gnugrep";
  gnutar = fake "gnutar";
  gzip = fake "gzip";
  sqlite = fake "sqlite";
  systemd = fake "systemd";
}
