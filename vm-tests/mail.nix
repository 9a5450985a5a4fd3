# Mail end to end: Alice submits to the world (STARTTLS + AUTH on 587), an
# "internet" Postfix receives it DKIM-signed; the internet writes back through its
# MX, Alice reads it over IMAPS, asks the assistant to list her mail, and a backup
# brings back what a mistake deleted.
{ self }:
{
  name = "tidings-mail";

  nodes = {
    box = import ./box.nix { inherit self; };

    internet =
      { nodes, ... }:
      {
        networking.hosts.${nodes.box.networking.primaryIPAddress} = [ "mail.example.org" ];
        services.postfix = {
          enable = true;
          settings.main = {
            myhostname = "mx.internet.test";
            mydestination = [
              "internet.test"
              "localhost"
            ];
            relayhost = [ "[mail.example.org]:25" ];
            smtp_tls_security_level = "may";
          };
        };
        users.users.bob.isNormalUser = true;
      };

    client =
      { nodes, pkgs, ... }:
      {
        networking.hosts.${nodes.box.networking.primaryIPAddress} = [ "mail.example.org" ];
        environment.systemPackages = [
          pkgs.swaks
          pkgs.python3
        ];
      };
  };

  testScript = ''
    import json

    start_all()
    box.wait_for_unit("tidings.target")
    box.wait_for_unit("tidings-admin.service")
    for port in (25, 587, 465, 143, 993, 443):
        box.wait_for_open_port(port)
    internet.wait_for_unit("postfix.service")

    box.copy_from_vm("/var/lib/tidings/tls/ca.pem", "")
    client.copy_from_host(str(box.out_dir / "ca.pem"), "/tmp/ca.pem")

    with subtest("submission: Alice writes to the world, it leaves DKIM-signed"):
        client.succeed(
            "swaks --server mail.example.org:587 --tls --tls-verify --tls-ca-path /tmp/ca.pem"
            " --auth LOGIN --auth-user alice@example.org --auth-password correct-horse-battery"
            " --from alice@example.org --to bob@internet.test --header 'Subject: to bob'"
        )
        internet.wait_until_succeeds("grep -q '^Subject: to bob' /var/spool/mail/bob", timeout=120)
        internet.succeed("grep -q '^DKIM-Signature: .*d=example.org' /var/spool/mail/bob")

    with subtest("submission refuses a wrong password with the protocol's code"):
        out = client.fail(
            "swaks --server mail.example.org:587 --tls --auth LOGIN --auth-user alice@example.org"
            " --auth-password wrong --from alice@example.org --to bob@internet.test 2>&1"
        )
        assert "535" in out, out

    with subtest("inbound: the internet's MTA delivers to Alice through the MX"):
        internet.succeed(
            "printf 'From: carol@internet.test\\r\\nTo: alice@example.org\\r\\n"
            "Subject: hello from the internet\\r\\n\\r\\nhi Alice\\r\\n'"
            " | sendmail -f carol@internet.test alice@example.org"
        )
        box.wait_until_succeeds(
            "grep -rl 'hello from the internet' /var/lib/tidings/mail/example.org/alice/new", timeout=120
        )

    read_inbox = """
    import imaplib, ssl, sys
    context = ssl.create_default_context(cafile="/tmp/ca.pem")
    imap = imaplib.IMAP4_SSL("mail.example.org", 993, ssl_context=context)
    imap.login("alice@example.org", "correct-horse-battery")
    imap.select("INBOX")
    _, found = imap.search(None, "SUBJECT", '"hello from the internet"')
    ids = found[0].split()
    assert ids, "not in INBOX"
    _, data = imap.fetch(ids[-1], "(BODY.PEEK[HEADER.FIELDS (AUTHENTICATION-RESULTS)])")
    print(data[0][1].decode())
    imap.logout()
    """
    client.succeed("cat > /tmp/read_inbox.py << 'EOF'\n" + read_inbox.replace("\n    ", "\n") + "\nEOF")

    with subtest("IMAPS: Alice reads it, with the box's verdict on the sender"):
        headers = client.succeed("python3 /tmp/read_inbox.py")
        assert "Authentication-Results" in headers, headers

    with subtest("the assistant lists Alice's mail"):
        token = box.succeed(
            "tidings token create alice@example.org --scope mail:read,ai --name vm-test"
        ).strip()
        answer = box.succeed(f"TIDINGS_TOKEN={token} tidings ask 'list my emails'")
        assert "hello from the internet" in answer, answer

    with subtest("backup, a mistake, restore"):
        box.succeed("systemctl start tidings-backup.service")
        archive = box.succeed("ls /var/backup/tidings/tidings-*.tar.gz").split()[-1]
        box.succeed("rm -rf /var/lib/tidings/mail/example.org/alice")
        client.fail("python3 /tmp/read_inbox.py")
        box.succeed(f"tidings-restore {archive}")
        box.wait_for_unit("tidings-imap.service")
        box.wait_for_open_port(993)
        client.succeed("python3 /tmp/read_inbox.py")
  '';
}
