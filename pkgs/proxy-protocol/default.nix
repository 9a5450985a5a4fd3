{
  lib,
  buildPythonPackage,
  fetchPypi,
  hatchling,
  typing-extensions,
  pytestCheckHook,
}:

buildPythonPackage rec {
  pname = "proxy-protocol";
  version = "0.11.3";
  pyproject = true;

  src = fetchPypi {
    pname = "proxy_protocol";
    inherit version;
    hash = "sha256-qaG9e9kL+oJESmv8fPVn+gpNQUTJyt85K4c2umUaZiw=";
  };

  build-system = [ hatchling ];
  dependencies = [ typing-extensions ];

  nativeCheckInputs = [ pytestCheckHook ];
  pythonImportsCheck = [ "proxyprotocol" ];

  meta = {
    description = "PROXY protocol library with asyncio server implementation";
    homepage = "https://github.com/icgood/proxy-protocol";
    license = lib.licenses.mit;
    mainProgram = "proxyprotocol-server";
  };
}
