# The front door: HTTPS with HTTP/2 and HSTS, HTTP redirected, every public path
# routed to its service, the assistant's WebSocket upgraded, rate limits biting.
{ self }:
{
  name = "tidings-web";

  nodes = {
    box = import ./box.nix { inherit self; };
    client =
      { nodes, pkgs, ... }:
      {
        networking.hosts.${nodes.box.networking.primaryIPAddress} = [
          "mail.example.org"
          "autoconfig.example.org"
        ];
        environment.systemPackages = [ pkgs.curl ];
      };
  };

  testScript = ''
    import json

    start_all()
    box.wait_for_unit("tidings.target")
    box.wait_for_unit("nginx.service")
    box.wait_for_open_port(443)
    box.copy_from_vm("/var/lib/tidings/tls/ca.pem", "")
    client.copy_from_host(str(box.out_dir / "ca.pem"), "/tmp/ca.pem")
    curl = "curl --silent --show-error --cacert /tmp/ca.pem --max-time 20"

    with subtest("HTTPS over HTTP/2 with HSTS; plain HTTP redirected"):
        headers = client.succeed(f"{curl} --http2 --dump-header - -o /dev/null https://mail.example.org/healthz")
        assert headers.startswith("HTTP/2 200"), headers
        assert "strict-transport-security: max-age=31536000" in headers.lower(), headers
        redirect = client.succeed(
            "curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://mail.example.org/status"
        )
        assert redirect == "301 https://mail.example.org/status", redirect

    with subtest("each public path reaches the service that serves it"):
        for path, service in (("/healthz", "web"), ("/api/mail/healthz", "mail-api"), ("/api/assistant/healthz", "ai")):
            health = json.loads(client.succeed(f"{curl} https://mail.example.org{path}"))
            assert health["service"] == service, (path, health)
        assert "imap" in client.succeed(
            f"{curl} https://autoconfig.example.org/mail/config-v1.1.xml?emailaddress=alice@example.org"
        ).lower()
        assert "imap" in client.succeed(
            f"{curl} https://mail.example.org/.well-known/autoconfig/mail/config-v1.1.xml"
        ).lower()
        code = client.succeed(
            f"{curl} -o /dev/null -w '%{{http_code}}' -X POST -H 'Content-Type: application/json'"
            " --data '{}' https://mail.example.org/mcp"
        )
        assert code == "401", code  # mcp-mail answered, and wants a token

    with subtest("the assistant's WebSocket is upgraded through nginx"):
        token = box.succeed(
            "tidings token create alice@example.org --scope ai --name vm-web"
        ).strip()
        status = client.succeed(
            f"{curl} --http1.1 --max-time 5 -o /dev/null -w '%{{http_code}}'"
            " -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13'"
            " -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='"
            f" -H 'Authorization: Bearer {token}'"
            " https://mail.example.org/api/assistant/v1/ws || true"
        )
        assert status.startswith("101"), status

    with subtest("a flood gets 429 from nginx before reaching the services"):
        codes = client.succeed(
            f"for i in $(seq 300); do {curl} -o /dev/null -w '%{{http_code}}\\n' "
            "https://mail.example.org/healthz & done; wait"
        ).split()
        assert "429" in codes and "200" in codes, sorted(set(codes))
  '';
}
