"""The engine's one door to the catalogue apps' writes (issue 22): within `promotions`, only
`promotions.engine.rewards` imports the write services of wallets, coupons and vouchers."""

from tests.test_architecture import Import, all_imports

CATALOGUE_WRITES = ("wallets.services", "coupons.services", "vouchers.services")
DOOR = "promotions.engine.rewards"


def catalogue_writers(imports) -> list[str]:
    """Each import of a catalogue write service (or a module inside one) by promotions code other than the door."""
    return sorted(
        {
            f"{found.where}: {found.importer} imports {found.imported}"
            for found in imports
            if found.importer.split(".")[0] == "promotions"
            and found.importer != DOOR
            and any(found.imported == name or found.imported.startswith(f"{name}.") for name in CATALOGUE_WRITES)
        }
    )


def test_only_the_rewards_module_calls_the_catalogue_write_services():
    problems = catalogue_writers(all_imports())
    assert not problems, "\n".join(
        ["", *problems, f"Give rewards through {DOOR} (promotions/engine/__init__.py says why)."]
    )


def test_the_check_sees_a_write_service_imported_anywhere_else_in_promotions():
    imports = [
        Import("promotions.engine.live", "coupons.services", "promotions/engine/live.py", 3, True),
        Import("promotions.views", "wallets.services.credit", "promotions/views.py", 9, False),
        Import(DOOR, "wallets.services", "promotions/engine/rewards.py", 14, False),
        Import("promotions.forecast", "coupons.selectors", "promotions/forecast.py", 5, False),
        Import("segments.services", "vouchers.services", "segments/services.py", 7, False),
    ]
    assert catalogue_writers(imports) == [
        "promotions/engine/live.py:3 (inside a function): promotions.engine.live imports coupons.services",
        "promotions/views.py:9: promotions.views imports wallets.services.credit",
    ]
