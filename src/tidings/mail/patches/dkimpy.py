"""dkimpy: RSA signatures computed by OpenSSL instead of in pure Python.

dkimpy does the RSA exponentiation of ``rsa-sha256`` in pure Python (about 5 ms per
message, most of the cost of enqueueing). PKCS#1 v1.5 signing is deterministic, so
OpenSSL (through ``cryptography``) produces the very same bytes about five times
faster; anything but SHA-256 goes back to dkimpy's own code. ``dkim.sign`` looks the
function up in its own module namespace at each call, which is what is replaced.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from tidings.mail.patches import supported

DISTRIBUTION = "dkimpy"
SUPPORTED = ("1.1.",)

_OPENSSL_KEYS: dict[int, rsa.RSAPrivateKey] = {}


def pure_python_sign(hash_obj: Any, private_key: dict[str, int]) -> bytes:
    """dkimpy's own RSASSA-PKCS1-v1_5 signature."""
    import dkim.crypto

    result: bytes = dkim.crypto.RSASSA_PKCS1_v1_5_sign(hash_obj, private_key)
    return result


def openssl_rsa_sign(hash_obj: Any, private_key: dict[str, int]) -> bytes:
    """dkimpy's RSASSA-PKCS1-v1_5 signature, computed by OpenSSL."""
    if getattr(hash_obj, "name", "") != "sha256":
        return pure_python_sign(hash_obj, private_key)
    modulus = private_key["modulus"]
    key = _OPENSSL_KEYS.get(modulus)
    if key is None:
        key = rsa.RSAPrivateNumbers(
            p=private_key["prime1"],
            q=private_key["prime2"],
            d=private_key["privateExponent"],
            dmp1=private_key["exponent1"],
            dmq1=private_key["exponent2"],
            iqmp=private_key["coefficient"],
            public_numbers=rsa.RSAPublicNumbers(private_key["publicExponent"], modulus),
        ).private_key()
        _OPENSSL_KEYS[modulus] = key
    return key.sign(hash_obj.digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


def apply() -> bool:
    if not supported(DISTRIBUTION, SUPPORTED):
        return False
    import dkim

    dkim.RSASSA_PKCS1_v1_5_sign = openssl_rsa_sign
    return True
