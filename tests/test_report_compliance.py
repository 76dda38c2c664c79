"""The report's section "Métadonnées et mises à jour" (DESIGN §8, §12): its sentences, and the
section as rendered in HTML (headless Chromium) and PDF (pdftoppm), through the real app.

Set METER_SHOTS_DIR to keep the rendered pages (PNG) for a look.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from meter.compliance.checks import check
from meter.reports.compliance import MAX_LISTED, partner_section, pool_section
from meter.reports.words import Words
from tests.conftest import auth, make_config, wait_written
from tests.test_collect_ods import full_metas
from tests.test_compliance_api import metadata

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DAY = date(2026, 11, 30)
FR = Words("fr")


def checked(name, metas, last_update="2026-11-20T00:00:00+00:00"):
    return check(name, metas, last_update, NOW)


def incomplete(title="Cars"):
    m = full_metas(title, "Ville")
    m["default"].update(keyword=[], description="<p><br></p>")
    return m


# the sentences

def test_no_dataset_is_one_sentence():
    s = partner_section([], DAY, FR)
    assert s.heading == "Métadonnées et mises à jour"
    assert s.paragraphs == ["Aucun jeu de données à votre nom n'a été trouvé dans le catalogue du portail : "
                            "il n'y a rien à vérifier."] and not s.items and not s.after and s.table is None


@pytest.mark.parametrize("n, start", [(1, "Votre jeu de données porte"), (3, "Vos 3 jeux de données portent")])
def test_all_in_order_is_one_sentence(n, start):
    s = partner_section([checked(f"d{i}", full_metas("T", "V")) for i in range(n)], DAY, FR)
    [sentence] = s.paragraphs
    assert sentence.startswith(start) and "rien à corriger" in sentence
    assert not s.items and not s.after


def test_each_dataset_not_in_order_says_what_to_do_in_the_portal_s_words():
    bad = full_metas("Parkings", "V", accrualperiodicity="Tous les mois")
    s = partner_section([
        checked("bus", full_metas("Bus", "V")),
        checked("cars", incomplete()),
        checked("trains", full_metas("Trains", "V"), "2026-09-01T00:00:00+00:00"),
        checked("parkings", bad),
    ], DAY, FR)
    [intro] = s.paragraphs
    assert "Au 30 novembre 2026, sur vos 4 jeux de données, 2 sont complets et 1 est en retard" in intro
    assert s.items == [
        "«\u00a0Cars\u00a0» (cars) : À compléter : Descriptif, Mots-clés.",
        "«\u00a0Trains\u00a0» (trains) : Mise à jour attendue au plus tard le 11 octobre 2026 (fréquence mensuelle, "
        "dernière mise à jour le 1er septembre 2026).",
        "«\u00a0Parkings\u00a0» (parkings) : La fréquence de mise à jour « Tous les mois » n'est pas une valeur de la "
        "convention.",
    ]
    assert any("onglet « Informations »" in p for p in s.after)  # where to fix it
    assert any(p.startswith("Pour un retard") for p in s.after)
    assert any("Lorsque nécessaire, Non planifiée" in p and "Bi\u2011annuelle, Annuelle, Inconnue" in p
               for p in s.after)
    assert not any("DCAT" in p for p in s.after)  # no DCAT field is missing


def test_a_single_incomplete_dataset_reads_in_the_singular():
    s = partner_section([checked("cars", incomplete())], DAY, FR)
    assert "votre jeu de données est incomplet ; voici ce qu'il reste à faire :" in s.paragraphs[0]
    assert not any(p.startswith("Pour un retard") for p in s.after)
    assert not any("DCAT" in p for p in s.after)


def test_a_dataset_without_a_title_is_named_by_its_id():
    m = full_metas("", "V")
    s = partner_section([checked("sans-titre", m)], DAY, FR)
    assert s.items == ["Jeu de données sans titre (sans-titre) : À compléter : Titre."]


def test_a_long_list_is_cut_and_the_rest_counted():
    s = partner_section([checked(f"d{i:03d}", incomplete(f"T{i}")) for i in range(MAX_LISTED + 7)], DAY, FR)
    assert len(s.items) == MAX_LISTED + 1
    assert s.items[-1] == "… et 7 autres jeux de données à reprendre, à retrouver sur votre page de suivi."


def test_english_reports_use_english_labels():
    s = partner_section([checked("cars", incomplete()),
                         checked("trains", full_metas("Trains", "V"), "2026-09-01T00:00:00+00:00")], DAY, Words("en"))
    assert s.heading == "Metadata and updates"
    assert s.items[0] == "\"Cars\" (cars): To fill in: Description, Keywords."
    assert "(frequency: monthly, last updated on 1 September 2026)" in s.items[1]


def test_the_pool_s_report_has_one_line_per_partner():
    by_sig = {"alpha": [checked("a", incomplete()), checked("b", full_metas("B", "V"))],
              "beta": [checked("c", full_metas("C", "V"), "2026-01-01T00:00:00+00:00")],
              "unattributed": [checked("u", full_metas("U", "V"))]}
    s = pool_section(by_sig, {"alpha": "Alpha", "beta": "Beta", "gamma": "Gamma"}, DAY, FR)
    assert s.table is not None and s.table.rows == [
        ["Alpha", "2", "1", "0"], ["Beta", "1", "1", "1"], ["Gamma", "0", "0", "0"],
        ["Éditeur non rattaché à un partenaire", "1", "1", "0"]]
    assert s.paragraphs[0].startswith("Au 30 novembre 2026, sur les 4 jeux de données du catalogue, 3 sont complets")
    assert "et 1 est en retard de mise à jour" in s.paragraphs[0]
    assert pool_section({}, {"alpha": "Alpha"}, DAY, FR).paragraphs == [
        "Aucun jeu de données n'a été trouvé dans le catalogue du portail."]


# through the app, rendered

POOL_EXTRA = '[collectors.ods]\npublishers = { "Ville d\'Alpha" = "alpha", "Ville de Bêta" = "beta" }\n'


@pytest.fixture
def config(pool_id):
    return make_config(pool_id, POOL_EXTRA)


@pytest.fixture
def clock(clock):
    clock.set(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    return clock


@pytest.fixture
async def catalogue(client, clock):
    for sid, name in (("alpha", "Ville d'Alpha"), ("beta", "Ville de Bêta"), ("gamma", "Gamma")):
        resp = await client.put(f"/v1/signatories/{sid}", json={"name": name, "kind": "commune",
                                                                "joined_at": "2020-01-01"}, headers=auth("admin"))
        assert resp.status == 201
    cars = full_metas("Lignes de cars scolaires", "Ville d'Alpha")
    cars["default"].update(keyword=[], description="<p><br></p>")
    del cars["dcat"]
    parkings = full_metas("Parkings relais", "Ville d'Alpha", accrualperiodicity="Tous les mois")
    events = [
        metadata("bus", full_metas("Horaires des bus", "Ville d'Alpha"), "2026-11-02T08:00:00+00:00",
                 publisher="Ville d'Alpha"),
        metadata("cars-scolaires", cars, "2026-11-02T08:00:00+00:00", publisher="Ville d'Alpha"),
        metadata("equipements-sportifs", full_metas("Équipements sportifs", "Ville d'Alpha"),
                 "2026-08-14T00:00:00+00:00", publisher="Ville d'Alpha"),
        metadata("parkings-relais", parkings, "2026-11-01T00:00:00+00:00", publisher="Ville d'Alpha"),
        metadata("arbres", full_metas("Arbres d'alignement", "Ville de Bêta"), "2026-11-10T00:00:00+00:00",
                 publisher="Ville de Bêta"),
    ]
    resp = await client.post("/v1/events", json=events, headers=auth("producer"))
    assert resp.status == 202, await resp.text()
    await wait_written(client)
    clock.set(datetime(2026, 12, 2, 8, 0, tzinfo=UTC))
    return client


async def report(client, sig, fmt):
    resp = await client.get(f"/v1/reports/2026-11/{sig}", params={"format": fmt}, headers=auth("reader"))
    assert resp.status == 200, await resp.text()
    return await resp.read()


def shots_dir(tmp_path: Path) -> Path:
    return Path(os.environ.get("METER_SHOTS_DIR") or tmp_path)


def screenshot(html: bytes, out: Path, tmp_path: Path) -> None:
    page = tmp_path / (out.stem + ".html")
    page.write_bytes(html)
    if os.environ.get("METER_SHOTS_DIR"):
        (out.parent / page.name).write_bytes(html)
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=820,3200",
                    f"--screenshot={out}", page.as_uri()], check=True, capture_output=True, timeout=120)
    assert out.stat().st_size > 20_000  # a page of text, not a blank one


def pdf_pages(pdf: bytes, out: Path, tmp_path: Path) -> str:
    path = tmp_path / (out.stem + ".pdf")
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "70", str(path), str(out)], check=True, timeout=120)
    assert list(out.parent.glob(out.name + "*.png"))
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          timeout=60).stdout.decode()


needs_tools = pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("pdftoppm")),
                                 reason="chromium and pdftoppm (scripts/test-deps.sh installs them)")


@pytest.mark.redis
@pytest.mark.chdb
async def test_a_partner_report_lists_its_findings_in_text_html_and_pdf(catalogue, tmp_path):
    text = (await report(catalogue, "alpha", "text")).decode()
    section = " ".join(text[text.index("Métadonnées et mises à jour"):].split())
    assert "sur vos 4 jeux de données, 2 sont complets et 1 est en retard" in section
    assert "« Lignes de cars scolaires » (cars-scolaires) : À compléter : Descriptif, Date de création" in section
    assert "« Équipements sportifs » (equipements-sportifs) : Mise à jour attendue au plus tard le 23 septembre" \
        " 2026" in section
    html = (await report(catalogue, "alpha", "html")).decode().replace("&nbsp;", "\u00a0")
    assert ">Métadonnées et mises à jour</h2>" in html and "<li>«\u00a0Parkings relais\u00a0» (parkings-relais)" in html
    csv = (await report(catalogue, "alpha", "csv")).decode("utf-8-sig")
    assert "Métadonnées" not in csv and csv.splitlines()[0] == "date;metric;used;allotment"  # unchanged
    beta = (await report(catalogue, "beta", "text")).decode()
    assert "Votre jeu de données porte les douze métadonnées" in beta
    gamma = (await report(catalogue, "gamma", "text")).decode()
    assert "Aucun jeu de données à votre nom" in gamma


@pytest.mark.redis
@pytest.mark.chdb
async def test_the_pool_report_has_a_line_per_partner(catalogue):
    text = (await report(catalogue, "pool", "text")).decode()
    section = text[text.index("Métadonnées et mises à jour"):]
    assert "- Gamma | 0 | 0 | 0" in section and "- Ville d'Alpha | 4 | 2 | 1" in section
    assert "- Ville de Bêta | 1 | 1 | 0" in section


@needs_tools
@pytest.mark.redis
@pytest.mark.chdb
async def test_the_section_as_rendered_in_chromium_and_in_the_pdf(catalogue, tmp_path):
    shots = shots_dir(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    for sig in ("alpha", "pool"):
        screenshot(await report(catalogue, sig, "html"), shots / f"report-{sig}-html.png", tmp_path)
        pdf_text = " ".join(pdf_pages(await report(catalogue, sig, "pdf"), shots / f"report-{sig}-pdf",
                                      tmp_path).split())
        assert "Métadonnées et mises à jour" in pdf_text
        if sig == "alpha":
            assert "« Parkings relais » (parkings-relais) : La fréquence de mise à jour « Tous les mois »" in pdf_text
            assert "onglet « Informations »" in pdf_text
        else:
            assert "Ville d'Alpha 4 2 1" in pdf_text
