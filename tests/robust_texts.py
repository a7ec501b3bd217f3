"""Generated multilingual texts and the evasions re-posters apply to them (quoting inside a longer post,
removing spaces, look-alike letters of another script, digits as letters, a Latin hashtag appended).

Shared by ``benchmarks/bench_robust.py`` and the text tests. Every text is a random sequence of neutral
everyday words (weather, markets, travel); nothing real is used.
"""

from __future__ import annotations

import numpy as np

VOCAB: dict[str, tuple[str, ...]] = {
    "en": ("market", "morning", "river", "garden", "station", "window", "weather", "bridge", "teacher", "village",
           "yellow", "quickly", "between", "summer", "winter", "kitchen", "letter", "mountain", "travel", "number",
           "orange", "silver", "forest", "harbour", "library", "evening", "friendly", "picture", "question",
           "animal", "bicycle", "coffee", "holiday", "island", "journey", "lantern", "meadow", "pencil"),
    "fr": ("marché", "matin", "rivière", "jardin", "gare", "fenêtre", "météo", "pont", "professeur", "village",
           "jaune", "rapidement", "entre", "été", "hiver", "cuisine", "lettre", "montagne", "voyage", "nombre",
           "orange", "argent", "forêt", "port", "bibliothèque", "soirée", "aimable", "image", "question", "animal"),
    "de": ("Markt", "Morgen", "Fluss", "Garten", "Bahnhof", "Fenster", "Wetter", "Brücke", "Lehrer", "Dorf",
           "gelb", "schnell", "zwischen", "Sommer", "Winter", "Küche", "Brief", "Berg", "Reise", "Nummer",
           "Orange", "Silber", "Wald", "Hafen", "Bibliothek", "Abend", "freundlich", "Bild", "Frage", "Tier"),
    "es": ("mercado", "mañana", "río", "jardín", "estación", "ventana", "tiempo", "puente", "maestro", "pueblo",
           "amarillo", "rápido", "entre", "verano", "invierno", "cocina", "carta", "montaña", "viaje", "número",
           "naranja", "plata", "bosque", "puerto", "biblioteca", "tarde", "amable", "imagen", "pregunta", "animal"),
    "ru": ("рынок", "утро", "река", "сад", "вокзал", "окно", "погода", "мост", "учитель", "деревня",
           "жёлтый", "быстро", "между", "лето", "зима", "кухня", "письмо", "гора", "поездка", "номер",
           "апельсин", "серебро", "лес", "гавань", "библиотека", "вечер", "добрый", "картина", "вопрос", "сорок",
           "пропаганда", "город", "дорога", "работа", "время", "солнце", "человек", "страна"),
    "uk": ("ринок", "ранок", "річка", "сад", "вокзал", "вікно", "погода", "міст", "вчитель", "село",
           "жовтий", "швидко", "між", "літо", "зима", "кухня", "лист", "гора", "подорож", "номер",
           "апельсин", "срібло", "ліс", "гавань", "бібліотека", "вечір", "добрий", "картина", "питання", "місто"),
    "ar": ("سوق", "صباح", "نهر", "حديقة", "محطة", "نافذة", "طقس", "جسر", "معلم", "قرية",
           "أصفر", "بسرعة", "بين", "صيف", "شتاء", "مطبخ", "رسالة", "جبل", "سفر", "رقم",
           "برتقال", "فضة", "غابة", "ميناء", "مكتبة", "مساء", "لطيف", "صورة", "سؤال", "حيوان", "مدينة", "الإسلام"),
    "fa": ("بازار", "صبح", "رودخانه", "باغ", "ایستگاه", "پنجره", "هوا", "پل", "معلم", "روستا",
           "زرد", "سریع", "میان", "تابستان", "زمستان", "آشپزخانه", "نامه", "کوه", "سفر", "شماره",
           "پرتقال", "نقره", "جنگل", "بندر", "کتابخانه", "عصر", "مهربان", "تصویر", "پرسش", "جانور", "خانه", "ایران"),
}
CYRILLIC_LANGS = ("ru", "uk")
ARABIC_LANGS = ("ar", "fa")

#: Latin letters that imitate Cyrillic ones, and the reverse.
LATIN_FOR_CYRILLIC = {"а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "к": "k", "і": "i"}
CYRILLIC_FOR_LATIN = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і"}
#: Digits that imitate Cyrillic letters, and Arabic-script letters with their look-alikes (digits and
#: Persian/Urdu letter forms such as U+06C3 and U+06BA).
DIGIT_FOR_CYRILLIC = {"о": "0", "з": "3", "ч": "4", "б": "6"}
ARABIC_LOOKALIKES = {"ة": "\u06c3", "ن": "\u06ba", "ه": "\u06c3"}
ARABIC_DIGITS = {"ا": "١", "ه": "٥"}


def sentence(rng: np.random.Generator, lang: str, n: int) -> str:
    words = VOCAB[lang]
    return " ".join(str(words[int(i)]) for i in rng.integers(0, len(words), size=n))


def banked_text(rng: np.random.Generator, lang: str) -> str:
    return sentence(rng, lang, int(rng.integers(8, 25)))


def _swap_letters(text: str, table: dict[str, str], rng: np.random.Generator, share: float = 0.5) -> str:
    return "".join(table[ch] if ch in table and rng.random() < share else ch for ch in text)


def quoted(text: str, rng: np.random.Generator, lang: str) -> str:
    """The text inside a post 3–10× its length, at a random place."""
    n = len(text.split())
    before = sentence(rng, lang, int(rng.integers(n, 5 * n)))
    after = sentence(rng, lang, int(rng.integers(n, 4 * n)))
    return f"{before}. {text}. {after}"


def evasions(lang: str) -> dict[str, object]:
    """Evasion name → function(text, rng) for a language (only those that apply to its script)."""
    out: dict[str, object] = {
        "quoted in a longer post": lambda t, rng: quoted(t, rng, lang),
        "spaces removed": lambda t, rng: t.replace(" ", ""),
        "quoted, spaces removed": lambda t, rng: quoted(t, rng, lang).replace(" ", ""),
        "latin hashtag and link appended": lambda t, rng: f"{t} #news #{VOCAB['en'][int(rng.integers(10))]} "
                                                          "https://example.org/a",
    }
    if lang in CYRILLIC_LANGS:
        out["latin look-alikes in words"] = lambda t, rng: _swap_letters(t, LATIN_FOR_CYRILLIC, rng)
        out["digits as letters"] = lambda t, rng: _swap_letters(t, DIGIT_FOR_CYRILLIC, rng, 0.7)
    elif lang in ARABIC_LANGS:
        out["persian/urdu look-alike letters"] = lambda t, rng: _swap_letters(t, ARABIC_LOOKALIKES, rng, 0.8)
        out["digits as letters"] = lambda t, rng: _swap_letters(t, ARABIC_DIGITS, rng, 0.6)
    else:
        out["cyrillic look-alikes in words"] = lambda t, rng: _swap_letters(t, CYRILLIC_FOR_LATIN, rng)
    out["reworded (a third of the words replaced)"] = lambda t, rng: " ".join(
        w if rng.random() > 0.33 else str(VOCAB[lang][int(rng.integers(len(VOCAB[lang])))]) for w in t.split())
    return out
