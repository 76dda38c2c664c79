"""Line breaking for the report's PDF: a width table, greedy lines, long words cut."""
from meter.reports.pdf_layout import wrap


def width(text: str) -> float:
    return float(len(text))  # one unit a character: what fits is easy to see


def test_words_fill_each_line_up_to_the_width():
    assert wrap("le portail de la region", 10, width) == ["le portail", "de la", "region"]


def test_a_word_longer_than_a_line_is_cut_between_characters():
    assert wrap("ab cdefghijkl", 5, width) == ["ab", "cdefg", "hijkl"]


def test_line_breaks_in_the_text_are_kept_and_an_empty_text_is_one_empty_line():
    assert wrap("un\ndeux trois", 20, width) == ["un", "deux trois"]
    assert wrap("", 20, width) == [""]


def test_no_line_is_wider_than_the_width():
    text = "Appels API : 30 571 utilisés sur une part de 1 400, soit 2 183,6 %. " * 5
    assert all(width(line) <= 37 for line in wrap(text, 37, width))
    assert " ".join(wrap(text, 37, width)).split() == text.split()
