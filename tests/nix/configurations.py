"""The configurations the module tests evaluate: the ones the issue names (defaults,
mail only, ACME vs local CA, a GPU) and the other modes each option offers."""

from __future__ import annotations

from tests.nix.nixeval import box

ACME = 'security.acme.acceptTerms = true; services.tidings.tls.acme.email = "admin@example.org";'

CONFIGURATIONS: dict[str, str] = {
    "defaults": box(),
    "mail-only": box(
        "services.tidings = { web.enable = false; ai.enable = false; mcp-mail.enable = false; };"
    ),
    "acme-http01": box(ACME, 'services.tidings.tls.mode = "acme-http01";'),
    "acme-dns01": box(
        ACME,
        'services.tidings.tls = { mode = "acme-dns01"; '
        'acme.dnsProvider = "cloudflare"; acme.environmentFile = "/run/secrets/dns.env"; };',
    ),
    "manual": box(
        'services.tidings.tls = { mode = "manual"; '
        'certificateFile = "/var/lib/secrets/fullchain.pem"; '
        'keyFile = "/var/lib/secrets/key.pem"; };'
    ),
    "cuda": box('services.tidings.gpu = "cuda";'),
    "vulkan": box('services.tidings.gpu = "vulkan";'),
    "admin": box(
        'services.tidings.admin = { address = "admin@example.org"; '
        'passwordFile = "/run/secrets/admin-password"; };'
    ),
}
