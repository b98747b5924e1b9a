from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.thai import STOPWORDS, ThaiTokenizer, is_mostly_english, normalize

# Text that exercises the Thai rules harder than st.text() alone: Thai block, dots, digits, invisibles.
thaiish_text = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x0E00, max_codepoint=0x0E7F),
        st.sampled_from(list(" .,-0123456789fyAİß\u200b\u200d\ufeff\u2060\u00ad\x00\t\n")),
        st.characters(),
    ),
    max_size=40,
)


@pytest.fixture(scope="module")
def tokenizer() -> ThaiTokenizer:
    tok = ThaiTokenizer(extra_words=["แพลตฟอร์มกลาง"])
    tok.warm()
    return tok


# --- normalize ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ท่ี", "ที่"),  # misordered tone mark / vowel
        ("เเผน", "แผน"),  # two sara e typed for sara ae
        ("ทํา", "ทำ"),  # nikhahit + sara aa
        ("\u0e17\u0e4d\u0e32", "ทำ"),  # what NFKC makes of ทำ must come back joined
        ("๒๕๖๖", "2566"),
        ("ABC", "abc"),
        ("Straße", "strasse"),  # casefold, not lower
        ("พ.ร.บ.", "พรบ"),
        ("พ.ศ. 2566", "พศ 2566"),
        ("ส.พ.ร.", "สพร"),
        ("ก.พ.", "กพ"),
        ("ค.ศ. 2023", "คศ 2023"),
        ("งบ 1.3 ล้านบาท", "งบ 1.3 ล้านบาท"),  # decimal point kept
        ("2,409.3962", "2,409.3962"),
        ("๒,๔๐๙.๓๙๖๒", "2,409.3962"),
        ("www.dga.or.th", "www.dga.or.th"),  # Latin dots are not Thai abbreviation dots
        ("ไหมมมม", "ไหม"),
        ("ครับบบ", "ครับ"),
        ("ได้ไหมมมม?", "ได้ไหม?"),
        ("ครับบบ ขอบคุณ", "ครับ ขอบคุณ"),
        # Real words with three identical letters are not emphasis.
        ("คะแนนนิยม", "คะแนนนิยม"),
        ("แบบบาง", "แบบบาง"),
        ("สสส.", "สสส"),
        ("1000 บาท", "1000 บาท"),  # digits never fold
        ("a\u200bb\u200cc\u200dd\ufeffe\u2060f\u00adg", "abcdefg"),
        ("ยื่น\u200dได้", "ยื่นได้"),
        ("x\x00y\x07z", "x y z"),  # control characters become spaces
        ("  หลาย \t\n ช่องว่าง  ", "หลาย ช่องว่าง"),
        ("ＦＹ２５６６", "fy2566"),  # full-width forms via NFKC
        ("", ""),
        ("\u200b\ufeff", ""),
    ],
)
def test_normalize_cases(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), thaiish_text))
def test_normalize_never_raises_and_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert isinstance(once, str)
    assert normalize(once) == once


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), thaiish_text))
def test_normalize_output_is_clean(text: str) -> None:
    out = normalize(text)
    assert out == out.strip()
    assert "  " not in out
    assert not any(ch in out for ch in "\u200b\u200c\u200d\ufeff\u2060\u00ad")
    assert not any("\u0e50" <= ch <= "\u0e59" for ch in out)  # no Thai digits left


# --- tokenizer ---------------------------------------------------------------------------------------


def test_tokenize_common_question(tokenizer: ThaiTokenizer) -> None:
    # Real words, not vowels cut off their consonants.
    assert tokenizer.tokenize(normalize("ยังยื่นได้ไหม")) == ["ยัง", "ยื่น", "ได้", "ไหม"]


def test_tokenize_keeps_khrongkan_whole(tokenizer: ThaiTokenizer) -> None:
    tokens = tokenizer.tokenize(normalize("โครงการอบรมข้าราชการ"))
    assert tokens[:2] == ["โครงการ", "อบรม"]
    assert "โครง" not in tokens and "การอบรม" not in tokens


def test_kan_and_khwam_compounds_removed_from_dictionary(tokenizer: ThaiTokenizer) -> None:
    assert "การอบรม" not in tokenizer.words  # X = อบรม is a word
    assert "ความมั่นคง" not in tokenizer.words
    assert {"การ", "ความ", "โครงการ", "อบรม"} <= tokenizer.words
    assert "การันตี" in tokenizer.words  # starts with การ but the rest is no word


def test_extra_words_stay_whole(tokenizer: ThaiTokenizer) -> None:
    assert tokenizer.tokenize("แพลตฟอร์มกลางของรัฐ")[0] == "แพลตฟอร์มกลาง"
    # Without the extra word newmm cuts it, so the test above measures the custom dictionary.
    assert "แพลตฟอร์มกลาง" not in ThaiTokenizer().tokenize("แพลตฟอร์มกลางของรัฐ")


def test_extra_words_are_normalized() -> None:
    tok = ThaiTokenizer(extra_words=["ระบบ ก.พ.๗", "เเพลตฟอร์มกลาง", "", "   "])
    assert "เเพลตฟอร์มกลาง" not in tok.words
    assert "แพลตฟอร์มกลาง" in tok.words
    assert "" not in tok.words
    assert "ระบบ กพ7" not in tok.words  # multi-word entries cannot match newmm chunks


def test_dotted_dictionary_entries_match_normalized_text(tokenizer: ThaiTokenizer) -> None:
    assert "รฟล" in tokenizer.words  # from ร.ฟ.ล.
    assert "สพร" in tokenizer.tokenize(normalize("ส.พ.ร. ดูแล"))


def test_tokenize_numbers_latin_and_punctuation(tokenizer: ThaiTokenizer) -> None:
    text = normalize("งบ 1.3 ล้านบาท (ปี 2566) FY2566 e-Government 2,409.3962 !! 😀 … ?")
    tokens = tokenizer.tokenize(text)
    assert tokens == ["งบ", "1.3", "ล้าน", "บาท", "ปี", "2566", "fy", "2566", "e-government", "2,409.3962"]


def test_tokenize_empty_and_whitespace(tokenizer: ThaiTokenizer) -> None:
    assert tokenizer.tokenize("") == []
    assert tokenizer.tokenize("   ") == []
    assert tokenizer.tokenize("?!. ...") == []


def test_tokenize_returns_fresh_lists(tokenizer: ThaiTokenizer) -> None:
    first = tokenizer.tokenize("ยังยื่นได้ไหม")
    first.append("junk")
    assert tokenizer.tokenize("ยังยื่นได้ไหม") == ["ยัง", "ยื่น", "ได้", "ไหม"]


@settings(max_examples=100, deadline=None)
@given(thaiish_text)
def test_tokenize_never_raises_and_drops_blanks(text: str) -> None:
    tokens = _shared_tokenizer().tokenize(normalize(text))
    assert all(t and not t.isspace() and any(ch.isalnum() for ch in t) for t in tokens)


_TOKENIZER: list[ThaiTokenizer] = []


def _shared_tokenizer() -> ThaiTokenizer:
    # Hypothesis does not mix with function-scoped fixtures; build the trie once for the property test.
    if not _TOKENIZER:
        _TOKENIZER.append(ThaiTokenizer())
    return _TOKENIZER[0]


# --- language ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What is the budget for FY2566?", True),
        ("how do I apply", True),
        ("hello 😀 123", True),
        ("งบประมาณปี 66 เท่าไร", False),
        ("ขอ budget ได้ไหม", False),
        ("what is แผนงานบูรณาการรัฐบาลดิจิทัล", False),  # significant Thai
        ("", False),
        ("2566 😀 !!", False),
    ],
)
def test_is_mostly_english(text: str, expected: bool) -> None:
    assert is_mostly_english(text) is expected


# --- stopwords ---------------------------------------------------------------------------------------


def test_stopwords_are_small_and_normalized() -> None:
    assert {"ครับ", "ค่ะ", "ไหม", "อะไร", "the", "what", "please"} <= STOPWORDS
    assert all(normalize(w) == w for w in STOPWORDS)  # others compare them with normalized tokens
    assert not {"งบประมาณ", "โครงการ", "ยื่น", "แผนงาน", "budget"} & STOPWORDS
    assert len(STOPWORDS) < 80


def test_knowledge_words_do_not_load_a_dictionary_each() -> None:
    """A reload with new vocabulary must not cost another dictionary (nlpo3 never frees one): all tokenizers
    share one base dictionary, and each still keeps its own words whole."""
    from bot import thai

    tokenizers = [ThaiTokenizer(extra_words=[f"คำทดสอบพิเศษยาว{i}"]) for i in range(5)]
    assert thai._base_dictionary.cache_info().currsize == 1
    for i, tok in enumerate(tokenizers):
        assert f"คำทดสอบพิเศษยาว{i}" in tok.tokenize(f"มีคำทดสอบพิเศษยาว{i}ในประโยค")


def test_analyzing_many_texts_at_once_gives_what_analyzing_each_does() -> None:
    """The index builds with analyze_many (word groups normalized and tokenized once): the same analyses."""
    import yaml

    from tests.support.core import shipped_assistant

    analyzer = shipped_assistant().analyzer
    texts = [q for e in shipped_assistant().faq.values() for q in [*e.questions, *e.questions_en]]
    for name in ("questions", "holdout", "realistic"):
        texts += [c["q"] for c in yaml.safe_load(open(f"tests/eval/{name}.yaml", encoding="utf-8"))["cases"]]
    texts += ["หน่วยงานต่าง ๆ บ่อย ๆ", "ปีงบ\u200b66", "x" * 600, "", "   "]
    assert list(analyzer.analyze_many(texts)) == [analyzer.analyze(t) for t in texts]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("deadline ปี 67 วันไหน", "th"),
        ("Digital Common Platform คืออะไรครับ", "th"),
        ("FY2023 still accepting requests?", "en"),
        ("ok ค่ะ", "th"),
        ("hello", "en"),
        ("😀", "th"),
    ],
)
def test_the_language_of_a_message_is_the_one_most_of_its_words_are_in(text: str, language: str) -> None:
    from bot.analysis import message_language
    from tests.support.core import shipped_assistant

    assert message_language(shipped_assistant().analyzer.analyze(text)) == language


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("กขคงจนมยรลวสหอะาิีึืุูเแโใไ่้๊๋็์ำๆ ฯ.12 abcAB๑๒\u200b\t")), max_size=60))
def test_analyzing_many_matches_analyzing_one_on_any_text(text: str) -> None:
    from tests.support.core import shipped_assistant

    analyzer = shipped_assistant().analyzer
    assert next(analyzer.analyze_many([text])) == analyzer.analyze(text)
