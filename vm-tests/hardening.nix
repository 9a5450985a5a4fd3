# The live units: every tidings service running, its systemd-analyze exposure
# within its target (modules/hardening.json), and the acceptance suite
# (vm-tests/testinfra) passing inside the box, systemd checks included.
{ self }:
{
  name = "tidings-hardening";

  nodes.box = import ./box.nix { inherit self; };

  testScript = ''
    import json

    box.wait_for_unit("tidings.target")
    for port in (25, 143, 443, 587, 993):
        box.wait_for_open_port(port)

    targets = json.loads(box.succeed("cat /etc/tidings/hardening.json"))["targets"]
    catalogue = json.loads(box.succeed("cat /etc/tidings/services.json"))
    for name, service in catalogue.items():
        if name.startswith("_"):
            continue
        box.wait_for_unit(f"tidings-{name}.service")
        limit = min(targets[service["network"]], targets["default"])
        box.succeed(
            f"systemd-analyze security --threshold={round(limit * 10)} --no-pager tidings-{name}.service"
        )

    with subtest("the acceptance suite, systemd checks included"):
        box.succeed(
            "cd /tmp && TIDINGS_COMMAND=tidings pytest -p no:cacheprovider --hosts=local:// "
            "${./testinfra}"
        )
  '';
}
