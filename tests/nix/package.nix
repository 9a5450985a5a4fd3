# pkgs/tidings called with stand-ins for nixpkgs' Python packages (nothing is built):
# what the build would be given — dependencies, tests, and the llama.cpp flags for
# each GPU choice, whichever place (top level or `env`) nixpkgs keeps them in.
{
  libPath,
  shape ? "top",
  cudaSupport ? false,
  vulkanSupport ? false,
}:
let
  lib = import libPath;
  fake = name: {
    type = "derivation";
    inherit name;
    pname = name;
    outPath = "/nix/store/${lib.substring 0 32 (builtins.hashString "sha256" name)}-${name}";
  };
  upstreamFlags = "-DGGML_NATIVE=off";
  llama =
    attrs:
    attrs
    // {
      override = args: llama (attrs // { cudaSupport = args.cudaSupport; });
      overridePythonAttrs = f: llama (attrs // f attrs);
    };
  llamaAttrs = {
    pname = "llama-cpp-python";
    cudaSupport = false;
    nativeBuildInputs = [ ];
    buildInputs = [ ];
  }
  // (
    if shape == "env" then
      { env.SKBUILD_CMAKE_ARGS = upstreamFlags; }
    else
      { SKBUILD_CMAKE_ARGS = upstreamFlags; }
  );
  names = [
    "setuptools" "wheel" "pydantic" "pydantic-settings" "click" "sqlmodel" "alembic"
    "argon2-cffi" "cryptography" "quart" "quart-schema" "hypercorn" "httpx" "hassil"
    "scikit-learn" "dateparser" "simplemma" "stop-words" "jsonschema" "mcp" "websockets" "aiosmtpd" "pyspf"
    "authheaders" "authres" "publicsuffix2" "dnspython" "aiosmtplib" "dkimpy" "pynacl"
    "nh3" "pymap" "pytestCheckHook" "pytest-asyncio" "markdown-it-py" "segno" "icalendar"
    "vobject" "recurring-ical-events"
  ];
  python3Packages = lib.genAttrs names fake // {
    buildPythonApplication = args: args;
    toPythonModule = drv: drv;
    llama-cpp-python = llama llamaAttrs;
  };
  package = import ../../pkgs/tidings/default.nix {
    inherit lib python3Packages cudaSupport vulkanSupport;
    xandikos = fake "xandikos";
    stdenv.hostPlatform.isx86_64 = true;
    vulkan-headers = fake "vulkan-headers";
    vulkan-loader = fake "vulkan-loader";
    shaderc = fake "shaderc";
  };
  llamaBuilt = lib.findFirst (d: d.pname or "" == "llama-cpp-python") null package.dependencies;
in
{
  inherit (package) pname version enabledTestPaths pythonRelaxDeps pythonRemoveDeps;
  dependencies = map (d: d.pname) package.dependencies;
  llama = {
    cuda = llamaBuilt.cudaSupport;
    flags = if shape == "env" then llamaBuilt.env.SKBUILD_CMAKE_ARGS else llamaBuilt.SKBUILD_CMAKE_ARGS;
    topLevel = llamaBuilt ? SKBUILD_CMAKE_ARGS;
    buildInputs = map (d: d.name) llamaBuilt.buildInputs;
  };
}
