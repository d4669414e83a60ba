"""The store's contract for the models that have copies (the Duplicates view's list): by name without regard to
case, each with its copies and their recorded fingerprints, paged, with the count of all of them. Run against
every backend in store_backends.BACKENDS."""

from __future__ import annotations

from store_backends import STAT, hashed_row, new_model, sha, stores_fixture  # noqa: F401  (the fixture `stores`)

from hikaze_mm.store.interfaces import Stores
from hikaze_mm.store.records import FileStat, Promotion


async def _with_copies(stores: Stores, name: str, sha256: str, copies: list[tuple[str, FileStat]]) -> None:
    path = f"/m/loras/{name}.safetensors"
    row = await hashed_row(stores, path, sha256)
    await stores.imports.promote(Promotion(row.id, sha256, "new", name, "loras", "unknown", {}, path, STAT, copies,
                                           []))


async def test_models_with_copies_by_name_with_their_copies_and_total(stores: Stores):
    one, two = FileStat(10, 5, 6, 7), FileStat(10, 8, 9, 7)
    await _with_copies(stores, "beta", sha("b"), [("/m/vae/b1.safetensors", one), ("/m/loras/old/b2.safetensors", two)])
    await _with_copies(stores, "Alpha", sha("a"), [("/m/checkpoints/a.safetensors", one)])
    await new_model(stores, "single", sha("c"))

    page, total = await stores.copies.models_with_copies(10, 0)
    assert total == 2
    assert [(m.model.name, m.model.path) for m in page] == [("Alpha", "/m/loras/Alpha.safetensors"),
                                                            ("beta", "/m/loras/beta.safetensors")]
    assert page[0].copies == [("/m/checkpoints/a.safetensors", one)]
    assert sorted(page[1].copies) == sorted([("/m/vae/b1.safetensors", one), ("/m/loras/old/b2.safetensors", two)])

    second, total = await stores.copies.models_with_copies(1, 1)
    assert total == 2 and [m.model.sha256 for m in second] == [sha("b")]
    assert (await stores.copies.models_with_copies(0, 0)) == ([], 2)

    await stores.copies.remove_copy("/m/checkpoints/a.safetensors")
    page, total = await stores.copies.models_with_copies(10, 0)
    assert total == 1 and [m.model.sha256 for m in page] == [sha("b")]
