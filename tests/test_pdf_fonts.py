"""The fonts parsed once per thread still give every PDF its own, complete text and embedded subset."""
import subprocess
import threading

from meter.reports.blocks import Section, Table
from meter.reports.document import Document
from meter.reports.pdf import report_pdf


def doc(name: str, words: str) -> Document:
    return Document("fr", f"Rapport — {name}", [], [Section("Vos quotas", [words], Table(["Quota", "Utilisé"],
                                                                                         [[name, "12 345"]]))],
                    "pied de page")


def text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()



def test_each_pdf_in_a_thread_has_its_own_words_even_letters_the_first_did_not_use():
    first = report_pdf(doc("Ablis", "aaa bbb"), b"")
    second = report_pdf(doc("Żyrardów Ørsted Œuvre", "zèbre ÿ ß ŋ"), b"")
    assert "Ablis" in text(first) and "Żyrardów" not in text(first)
    out = text(second)
    for word in ("Żyrardów", "Ørsted", "Œuvre", "zèbre", "ÿ", "ß", "ŋ"):
        assert word in out
    assert b"/FontFile2" in first and b"/FontFile2" in second  # the fonts are embedded in each


def test_pdfs_made_in_several_threads_at_once_are_each_whole():
    out: dict[int, bytes] = {}

    def make(i: int) -> None:
        for _ in range(3):
            out[i] = report_pdf(doc(f"Commune {i}", f"mot{i} " * 50), b"")

    threads = [threading.Thread(target=make, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        assert f"Commune {i}" in text(out[i]) and f"mot{i}" in text(out[i])
