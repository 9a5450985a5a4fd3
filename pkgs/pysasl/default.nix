{
  lib,
  buildPythonPackage,
  fetchPypi,
  hatchling,
  pytestCheckHook,
}:

buildPythonPackage rec {
  pname = "pysasl";
  version = "1.2.0";
  pyproject = true;

  src = fetchPypi {
    inherit pname version;
    hash = "sha256-UUHNjPoLNmfsEUre1g+xcxNJa6EGA//b1/7qxxRq56E=";
  };

  build-system = [ hatchling ];

  nativeCheckInputs = [ pytestCheckHook ];
  pythonImportsCheck = [ "pysasl" ];

  meta = {
    description = "Pure Python SASL client and server library";
    homepage = "https://github.com/icgood/pysasl";
    license = lib.licenses.mit;
  };
}
