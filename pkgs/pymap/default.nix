{
  lib,
  buildPythonPackage,
  fetchPypi,
  hatchling,
  pysasl,
  proxy-protocol,
  pytestCheckHook,
}:

buildPythonPackage rec {
  pname = "pymap";
  version = "0.36.7";
  pyproject = true;

  src = fetchPypi {
    inherit pname version;
    hash = "sha256-c3Q1mOShz7veDyFqkuTTPN9Be/m3rIhUwDchRETlStc=";
  };

  build-system = [ hatchling ];
  dependencies = [
    pysasl
    proxy-protocol
  ];

  nativeCheckInputs = [ pytestCheckHook ];
  # The optional backends (redis, macaroon tokens, sieve, grpc admin, swim) are
  # not packaged: tidings uses the maildir backend's building blocks only.
  disabledTestPaths = [
    "test/server"
    "test/test_cluster.py"
    "test/test_health.py"
  ];
  pythonImportsCheck = [
    "pymap"
    "pymap.imap"
  ];

  meta = {
    description = "Lightweight, asynchronous IMAP serving in Python";
    homepage = "https://github.com/icgood/pymap";
    license = lib.licenses.mit;
    mainProgram = "pymap";
  };
}
