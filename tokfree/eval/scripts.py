"""The dominant Unicode script of a text ("Latin", "Cyrillic", "Han", ...), for grouping languages.

Only letters and combining marks vote (general categories L* and M*), and only those whose script
is a specific one: digits, punctuation, spaces and symbols (script Common), and combining marks
shared by several scripts (Inherited) do not. With the `regex` package installed (tokfree[dev]),
a character's script is its Unicode Script property (`\\p{Script=...}`); without it, the script is
read from the start of the character's Unicode name ("CYRILLIC SMALL LETTER A" -> Cyrillic), which
agrees for the letters of living languages but misses a few (e.g. modifier letters, fullwidth Latin).
Japanese writing mixes three scripts, so a text whose kana make up at least a fifth of its Han and
kana letters votes for them together as "Japanese" (ISO 15924 Jpan = Han + Hiragana + Katakana);
otherwise Japanese prose would be "Hiragana" and Japanese with Latin words in it "Latin".
This module does not detect languages.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from functools import lru_cache

#: Unicode script long names (PropertyValueAliases.txt), as `script_of` returns them. Common,
#: Inherited and Unknown are left out: they never win.
SCRIPTS = (
    "Adlam", "Ahom", "Anatolian_Hieroglyphs", "Arabic", "Armenian", "Avestan", "Balinese", "Bamum", "Bassa_Vah",
    "Batak", "Bengali", "Beria_Erfe", "Bhaiksuki", "Bopomofo", "Brahmi", "Braille", "Buginese", "Buhid",
    "Canadian_Aboriginal", "Carian", "Caucasian_Albanian", "Chakma", "Cham", "Cherokee", "Chorasmian", "Coptic",
    "Cuneiform", "Cypriot", "Cypro_Minoan", "Cyrillic", "Deseret", "Devanagari", "Dives_Akuru", "Dogra", "Duployan",
    "Egyptian_Hieroglyphs", "Elbasan", "Elymaic", "Ethiopic", "Garay", "Georgian", "Glagolitic", "Gothic",
    "Grantha", "Greek", "Gujarati", "Gunjala_Gondi", "Gurmukhi", "Gurung_Khema", "Han", "Hangul", "Hanifi_Rohingya",
    "Hanunoo", "Hatran", "Hebrew", "Hiragana", "Imperial_Aramaic", "Inscriptional_Pahlavi",
    "Inscriptional_Parthian", "Javanese", "Jurchen", "Kaithi", "Kannada", "Katakana", "Kawi", "Kayah_Li",
    "Kharoshthi", "Khitan_Small_Script", "Khmer", "Khojki", "Khudawadi", "Kirat_Rai", "Lao", "Latin", "Lepcha",
    "Limbu", "Linear_A", "Linear_B", "Lisu", "Lycian", "Lydian", "Mahajani", "Makasar", "Malayalam", "Mandaic",
    "Manichaean", "Marchen", "Masaram_Gondi", "Medefaidrin", "Meetei_Mayek", "Mende_Kikakui", "Meroitic_Cursive",
    "Meroitic_Hieroglyphs", "Miao", "Modi", "Mongolian", "Mro", "Multani", "Myanmar", "Nabataean", "Nag_Mundari",
    "Nandinagari", "New_Tai_Lue", "Newa", "Nko", "Nushu", "Nyiakeng_Puachue_Hmong", "Ogham", "Ol_Chiki", "Ol_Onal",
    "Old_Hungarian", "Old_Italic", "Old_North_Arabian", "Old_Permic", "Old_Persian", "Old_Sogdian",
    "Old_South_Arabian", "Old_Turkic", "Old_Uyghur", "Oriya", "Osage", "Osmanya", "Pahawh_Hmong", "Palmyrene",
    "Pau_Cin_Hau", "Phags_Pa", "Phoenician", "Proto_Cuneiform", "Psalter_Pahlavi", "Rejang", "Runic", "Samaritan",
    "Saurashtra", "Seal", "Sharada", "Shavian", "Siddham", "Sidetic", "SignWriting", "Sinhala", "Sogdian",
    "Sora_Sompeng", "Soyombo", "Sundanese", "Sunuwar", "Syloti_Nagri", "Syriac", "Tagalog", "Tagbanwa", "Tai_Le",
    "Tai_Tham", "Tai_Viet", "Tai_Yo", "Takri", "Tamil", "Tangsa", "Tangut", "Telugu", "Thaana", "Thai", "Tibetan",
    "Tifinagh", "Tirhuta", "Todhri", "Tolong_Siki", "Toto", "Tulu_Tigalari", "Ugaritic", "Vai", "Vithkuqi",
    "Wancho", "Warang_Citi", "Yezidi", "Yi", "Zanabazar_Square",
)

#: What `script_of` returns for a text with no letter of a specific script.
COMMON = "Common"
#: What `script_of` returns for Han mixed with enough kana (see the module docstring).
JAPANESE = "Japanese"
_KANA = ("Hiragana", "Katakana")

# Unicode names that do not start with their script's name (the fallback without `regex`).
_NAME_PREFIXES = {
    "CJK UNIFIED IDEOGRAPH": "Han", "CJK COMPATIBILITY IDEOGRAPH": "Han", "CANADIAN SYLLABICS": "Canadian_Aboriginal",
    "PHAGS-PA": "Phags_Pa", "NKO": "Nko", "YI": "Yi", "LAO": "Lao", "VAI": "Vai", "MRO": "Mro", "MEETEI MAYEK": "Meetei_Mayek",
}


@lru_cache(maxsize=None)
def _property_pattern():
    """One compiled `regex` alternation with a named group per script, or None without `regex`."""
    try:
        import regex
    except ImportError:
        return None
    names = []
    for name in SCRIPTS:
        try:  # a `regex` older than the script's Unicode version does not know it
            regex.compile(rf"\p{{Script={name}}}")
        except regex.error:
            continue
        names.append(name)
    return regex.compile("|".join(rf"(?P<{name}>\p{{Script={name}}})" for name in names))


@lru_cache(maxsize=None)
def _name_prefixes() -> tuple[tuple[str, str], ...]:
    """(Unicode name prefix, script), longest prefix first."""
    prefixes = {name.upper().replace("_", " "): name for name in SCRIPTS} | _NAME_PREFIXES
    return tuple(sorted(prefixes.items(), key=lambda item: -len(item[0])))


@lru_cache(maxsize=65536)
def _char_script(char: str) -> str | None:
    """The specific script of a letter or combining mark; None for any other character."""
    if unicodedata.category(char)[0] not in "LM":
        return None
    pattern = _property_pattern()
    if pattern is not None:
        match = pattern.match(char)
        return match.lastgroup if match else None
    name = unicodedata.name(char, "")
    for prefix, script in _name_prefixes():
        if name.startswith(prefix) and (len(name) == len(prefix) or name[len(prefix)] in " -"):
            return script
    return None


def script_of(text: str) -> str:
    """The script of most of the letters (and combining marks) of `text`.

    Ties go to the script name that sorts first; a text without such letters (digits,
    punctuation, whitespace, symbols, or empty) is `"Common"`; Han with at least a fifth of its
    Han and kana letters in kana is `"Japanese"`.

    Example:
        >>> script_of("Всеобщая декларация прав человека (1948)")
        'Cyrillic'
    """
    votes: Counter[str] = Counter()
    for char, count in Counter(text).items():
        script = _char_script(char)
        if script is not None:
            votes[script] += count
    if not votes:
        return COMMON
    kana = sum(votes.pop(script, 0) for script in _KANA)
    if kana:
        if kana * 5 >= kana + votes["Han"]:
            votes[JAPANESE] = kana + votes.pop("Han", 0)
        else:  # a few kana in Chinese text
            votes["Han"] += kana
    return min(votes, key=lambda script: (-votes[script], script))
