"""The course notebooks' exercises: each answer is judged by convzoo's own arithmetic, by building the
layer and counting, or (coding exercises) by running the student's function against the NumPy oracle.

    >>> from convzoo.course import check
    >>> ok = check("dilated.keep_37", (1, 2))          # stride 1, padding 2 keep 37x37 for k=3, d=2
    dilated.keep_37: (1, 2) - correct.
    >>> bool(ok)
    True

``check`` prints one short message and returns a :class:`Verdict` (true when right): a wrong answer
gets its hint, never a traceback; an answer of a near type ('13', 32.0 for a count, '10 ms') is read
as the number it spells, with a note on the type; an unanswered one (None) gets a reminder, so a
notebook whose exercises are not done yet still runs top to bottom. Messages in English or Spanish.
The questions carry no solutions: those are in :mod:`convzoo.course_solutions` (the teacher's copy).
Used by docs/notebooks/*.ipynb; tests/test_notebooks.py feeds every check right and wrong answers.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from . import course_judges as j
from .course_code import CODE_EXERCISES, judge_function


@dataclass(frozen=True)
class Exercise:
    judge: Callable[[Any], bool]      # the answer, read as `kind` -> right?
    kind: str                         # "int", "float", "tuple" (of ints), "any", "code"
    hint: dict = field(default_factory=dict)   # {"en": ..., "es": ...}
    unit: str = ""                    # the unit the question asks in ("ms", "px"): '10 ms' is read as 10


@dataclass(frozen=True)
class Verdict:
    """What :func:`check` decided: true when right. Shows nothing under a notebook cell (the message
    was printed), so a right answer is not followed by a stray ``True``."""
    exercise: str
    correct: bool
    answered: bool
    message: str

    def __bool__(self) -> bool:
        return self.correct

    def _ipython_display_(self) -> None:
        pass


def _ex(judge, kind: str, en: str, es: str, unit: str = "") -> Exercise:
    return Exercise(judge, kind, {"en": en, "es": es}, unit)


EXERCISES: dict[str, Exercise] = {
    "sobel.rank_disk": _ex(j.equals(lambda: int(np.linalg.matrix_rank(j.disk()))), "int",
        "the rank is the number of nonzero singular values: build the disk above and try np.linalg.matrix_rank(disk).",
        "el rango es el número de valores singulares no nulos: construye el disco de arriba y prueba "
        "np.linalg.matrix_rank(disk)."),
    "sobel.macs_7x7": _ex(j.equals(lambda: (7 * 7, 7 + 7)), "tuple",
        "a full k x k kernel costs k*k multiply-adds per pixel, two 1D passes k + k; answer (full, separable).",
        "un núcleo completo k x k cuesta k*k multiplicaciones-sumas por píxel, dos pasadas 1D k + k; responde "
        "(completo, separable)."),
    "sobel.sobel_y_factors": _ex(j.sobel_y_factors, "any",
        "Sobel x is the column [1, 2, 1] times the row [-1, 0, 1]; Sobel y is its transpose. Check with np.outer.",
        "Sobel x es la columna [1, 2, 1] por la fila [-1, 0, 1]; Sobel y es su traspuesta. Compruébalo con np.outer."),
    "sobel.two_passes": _ex(None, "code",
        "filter the columns first (a weighted sum of row-shifted slices image[a:a + h, :]), then the rows of that "
        "result; the output is (H - kh + 1, W - kw + 1).",
        "filtra primero las columnas (una suma ponderada de cortes desplazados image[a:a + h, :]) y luego las filas "
        "del resultado; la salida es (H - kh + 1, W - kw + 1)."),
    "spatial.params": _ex(j.equals(j.spatial_params), "int",
        "a (k x 1) conv M -> R, then a (1 x k) conv R -> N, no bias: k*M*R + k*R*N; or count the layer's parameters().",
        "una convolución (k x 1) de M a R y luego una (1 x k) de R a N, sin sesgo: k*M*R + k*R*N; o cuenta los "
        "parameters() de la capa."),
    "spatial.rank_exact": _ex(j.equals(lambda: int(np.linalg.matrix_rank(j.two_pair_kernel()))), "int",
        "count the linearly independent column-times-row pairs, or ask np.linalg.matrix_rank(K).",
        "cuenta los pares columna por fila linealmente independientes, o pregunta a np.linalg.matrix_rank(K)."),
    "spatial.low_rank": _ex(None, "code",
        "u, s, vt = np.linalg.svd(K); add up the R largest terms s[i] * np.outer(u[:, i], vt[i]).",
        "u, s, vt = np.linalg.svd(K); suma los R términos mayores s[i] * np.outer(u[:, i], vt[i])."),
    "depthwise.groups": _ex(j.one_filter_per_channel, "int",
        "groups splits the channels into that many independent groups; you want groups of one channel each.",
        "groups divide los canales en ese número de grupos independientes; quieres grupos de un canal cada uno."),
    "depthwise.macs_saved": _ex(j.equals(j.dw_saved), "int",
        "standard: k*k*M*N MACs per output pixel; depthwise-separable: k*k*M + M*N. Multiply the difference by the "
        "28*28 output pixels, or profile both layers.",
        "estándar: k*k*M*N MACs por píxel de salida; separable en profundidad: k*k*M + M*N. Multiplica la diferencia "
        "por los 28*28 píxeles de salida, o mide las dos capas con profile."),
    "depthwise.ratio": _ex(j.close(lambda: 1 / 512 + 1 / 9, 0.01), "float",
        "divide k*k*M + M*N by k*k*M*N: it simplifies to 1/N + 1/k**2.",
        "divide k*k*M + M*N entre k*k*M*N: se simplifica a 1/N + 1/k**2."),
    "depthwise.depthwise": _ex(None, "code",
        "output channel c is the 2D valid cross-correlation of x[c] with w[c] alone (conv_nd(x[c][None, None], "
        "w[c][None, None]) or a sum of shifted slices); stack the channels.",
        "el canal de salida c es la correlación cruzada 2D válida de x[c] solo con w[c] (conv_nd(x[c][None, None], "
        "w[c][None, None]) o una suma de cortes desplazados); apila los canales."),
    "mbconv.hidden": _ex(j.equals(lambda: 24 * 6), "int",
        "the expansion 1x1 conv multiplies the width by t.",
        "la convolución 1x1 de expansión multiplica la anchura por t."),
    "mbconv.residual": _ex(j.equals(j.mbconv_residual), "any",
        "the skip x + f(x) needs f(x) to have x's shape: the same width and stride 1.",
        "el atajo x + f(x) necesita que f(x) tenga la forma de x: la misma anchura y paso 1."),
    "mbconv.params": _ex(j.equals(j.mbconv_params), "int",
        "three convs without bias (1x1 24->144, 3x3 depthwise on 144, 1x1 144->24) plus two parameters (weight, "
        "bias) per channel of each of the three batch norms.",
        "tres convoluciones sin sesgo (1x1 de 24 a 144, 3x3 en profundidad sobre 144, 1x1 de 144 a 24) más dos "
        "parámetros (peso, sesgo) por canal de cada una de las tres normalizaciones por lotes."),
    "mbconv.block": _ex(None, "code",
        "a 1x1 conv is a matrix product over the channels, np.einsum('oc,chw->ohw', w, x); pad the hidden map by 1 "
        "(np.pad) before the depthwise 3x3; ReLU6 is np.clip(y, 0, 6).",
        "una convolución 1x1 es un producto de matrices sobre los canales, np.einsum('oc,chw->ohw', w, x); rellena "
        "el mapa oculto con 1 (np.pad) antes de la 3x3 en profundidad; ReLU6 es np.clip(y, 0, 6)."),
    "effnet.macs_phi3": _ex(j.close(lambda: j.compound_macs(3), 0.02), "float",
        "MACs grow as depth * width**2 * resolution**2 = (alpha * beta**2 * gamma**2)**phi, with 1.2, 1.1, 1.15.",
        "las MACs crecen como profundidad * anchura**2 * resolución**2 = (alpha * beta**2 * gamma**2)**phi, con "
        "1.2, 1.1, 1.15."),
    "effnet.b3_resolution": _ex(j.equals(lambda: j.resolution("efficientnet_b3")), "int",
        "Table 1's resolutions grow from B0's 224 px; describe_efficientnet('efficientnet_b3') reads it off the model.",
        "las resoluciones de la Tabla 1 crecen desde los 224 px de B0; describe_efficientnet('efficientnet_b3') la "
        "lee del modelo.", unit="px"),
    "effnet.multipliers": _ex(None, "code",
        "each dimension grows by its own coefficient to the power phi: depth alpha**phi, width beta**phi, "
        "resolution gamma**phi; return the three as a tuple.",
        "cada dimensión crece con su coeficiente elevado a phi: profundidad alpha**phi, anchura beta**phi, "
        "resolución gamma**phi; devuelve las tres en una tupla."),
    "convnext.params": _ex(j.equals(j.convnext_params), "int",
        "7x7 depthwise conv with bias, LayerNorm (2C), 1x1 C->4C with bias, 1x1 4C->C with bias, layer scale (C).",
        "convolución 7x7 en profundidad con sesgo, LayerNorm (2C), 1x1 de C a 4C con sesgo, 1x1 de 4C a C con "
        "sesgo, escala de capa (C)."),
    "convnext.dw_share": _ex(j.close(j.convnext_dw_share, 0.05), "float",
        "per pixel the depthwise conv costs 49*C MACs and each 1x1 conv 4*C*C: compare 49*C with 49*C + 8*C*C.",
        "por píxel, la convolución en profundidad cuesta 49*C MACs y cada 1x1, 4*C*C: compara 49*C con "
        "49*C + 8*C*C."),
    "convnext.layer_norm": _ex(None, "code",
        "mean and variance over axis 0 (the channels) with keepdims=True, divide by np.sqrt(var + 1e-6), then "
        "* weight[:, None, None] + bias[:, None, None].",
        "media y varianza sobre el eje 0 (los canales) con keepdims=True, divide entre np.sqrt(var + 1e-6) y luego "
        "* weight[:, None, None] + bias[:, None, None]."),
    "dilated.keep_37": _ex(j.keeps_37, "tuple",
        "o = floor((i + 2p - d(k-1) - 1)/s) + 1; with s = 1 the size is kept when 2p = d(k-1).",
        "o = floor((i + 2p - d(k-1) - 1)/s) + 1; con s = 1 el tamaño se conserva cuando 2p = d(k-1)."),
    "dilated.rf": _ex(j.equals(lambda: j.rf([(3, 1, 1), (3, 1, 2), (3, 1, 4)])), "int",
        "each stride-1 layer widens the receptive field by d(k-1); start from 1.",
        "cada capa de paso 1 ensancha el campo receptivo en d(k-1); empieza en 1."),
    "dilated.effective_k": _ex(j.equals(lambda: j.rf([(5, 1, 3)])), "int",
        "k taps d apart span (k-1)*d + 1 samples.",
        "k coeficientes separados d abarcan (k-1)*d + 1 muestras."),
    "dilated.dilate_kernel": _ex(None, "code",
        "make zeros of side d*(k-1) + 1 and put w on every d-th row and column: big[::d, ::d] = w.",
        "crea ceros de lado d*(k-1) + 1 y pon w en cada d-ésima fila y columna: big[::d, ::d] = w."),
    "transposed.output_padding": _ex(j.output_padding, "int",
        "o' = (i'-1)s - 2p + k + output_padding; with i' = 7, s = 2, p = 1, k = 3, solve o' = 14.",
        "o' = (i'-1)s - 2p + k + output_padding; con i' = 7, s = 2, p = 1, k = 3, resuelve o' = 14."),
    "transposed.size": _ex(j.equals(lambda: j.out_t(5, 4, s=2, p=1)), "int",
        "o' = (i'-1)s - 2p + k (no output_padding).",
        "o' = (i'-1)s - 2p + k (sin output_padding)."),
    "transposed.macs": _ex(j.equals(j.transposed_macs), "int",
        "every input element meets every tap of every output channel once: C_in * H * W * C_out * k * k.",
        "cada elemento de entrada se encuentra una vez con cada coeficiente de cada canal de salida: "
        "C_in * H * W * C_out * k * k."),
    "transposed.scatter": _ex(None, "code",
        "start from zeros of length (L-1)*stride + k; for each i add x[i] * w to out[i*stride:i*stride + k].",
        "empieza con ceros de longitud (L-1)*stride + k; para cada i suma x[i] * w a out[i*stride:i*stride + k]."),
    "conv1d.m5_out": _ex(j.equals(lambda: j.out(8000, 80, s=4)), "int",
        "o = floor((i - k)/s) + 1 without padding.",
        "o = floor((i - k)/s) + 1 sin relleno."),
    "conv1d.rf_ms": _ex(j.close(lambda: 80 / 8000 * 1000, 0.01), "float",
        "80 samples at 8000 samples per second, in milliseconds.",
        "80 muestras a 8000 muestras por segundo, en milisegundos.", unit="ms"),
    "conv1d.conv1d": _ex(None, "code",
        "output j is np.dot(w, x[j*stride:j*stride + k]) for j in range((L - k)//stride + 1).",
        "la salida j es np.dot(w, x[j*stride:j*stride + k]) para j en range((L - k)//stride + 1)."),
    "conv3d.params": _ex(j.equals(j.conv3d_params), "int",
        "a 3D kernel has t*k*k taps per (input, output) channel pair: 3*3*3 * C_in * C_out.",
        "un núcleo 3D tiene t*k*k coeficientes por par de canales (entrada, salida): 3*3*3 * C_in * C_out."),
    "conv3d.midplanes": _ex(j.equals(j.midplanes), "int",
        "M = floor(t*d*d * N_in * N_out / (d*d * N_in + t * N_out)) matches the 3D conv's parameter count.",
        "M = floor(t*d*d * N_in * N_out / (d*d * N_in + t * N_out)) iguala los parámetros de la convolución 3D."),
    "conv3d.conv3d": _ex(None, "code",
        "output frame f of channel o sums, over input channels c and kernel frames t, the 2D cross-correlation of "
        "x[c, f + t] with w[o, c, t].",
        "el fotograma de salida f del canal o suma, sobre los canales de entrada c y los fotogramas t del núcleo, la "
        "correlación cruzada 2D de x[c, f + t] con w[o, c, t]."),
}
assert set(CODE_EXERCISES) == {k for k, e in EXERCISES.items() if e.kind == "code"}

_MSG = {
    "en": {"ok": "{ex}: {a} - correct.", "todo": "{ex}: not answered yet - set `answer` above and run this cell again.",
           "todo_code": "{ex}: not written yet - the function still returns None; write it and run this cell again.",
           "wrong": "{ex}: {a} is not right. Hint: {hint}", "why": "{ex}: {a} is not right: {why}. Hint: {hint}",
           "note": "Note: {note}", "hidden": "(The solution is hidden below the exercise.)",
           "str": "{a!r} is text (a string); it was read as the number {v}. Write numbers without quotes.",
           "unit": "{a!r} is text; the question asks in {unit}, so write the number alone: {v}.",
           "other_unit": "{a!r}: give the number in {unit}, without the unit.",
           "no_unit": "{a!r}: write the number alone, without a unit.",
           "float_int": "{a!r} is a float; this is a count, a whole number: {v}.",
           "floats_int": "{a!r} holds floats; these are counts, whole numbers: {v}.",
           "not_whole": "{a!r} is not a whole number; this is a count.",
           "text": "{a!r} is text (a string); it was read as {v!r}. Write it without quotes.",
           "unknown": "unknown exercise {ex!r}; expected one of {known}"},
    "es": {"ok": "{ex}: {a}: correcto.", "todo": "{ex}: aún sin responder: asigna `answer` arriba y vuelve a ejecutar "
                                                   "esta celda.",
           "todo_code": "{ex}: aún sin escribir: la función sigue devolviendo None; escríbela y vuelve a ejecutar "
                        "esta celda.",
           "wrong": "{ex}: {a} no es correcto. Pista: {hint}", "why": "{ex}: {a} no es correcto: {why}. Pista: {hint}",
           "note": "Nota: {note}", "hidden": "(La solución está oculta debajo del ejercicio.)",
           "str": "{a!r} es texto (una cadena); se leyó como el número {v}. Escribe los números sin comillas.",
           "unit": "{a!r} es texto; la pregunta pide {unit}, así que escribe solo el número: {v}.",
           "other_unit": "{a!r}: da el número en {unit}, sin la unidad.",
           "no_unit": "{a!r}: escribe solo el número, sin unidad.",
           "float_int": "{a!r} es un número decimal (float); esto es un recuento, un número entero: {v}.",
           "floats_int": "{a!r} contiene números decimales (float); son recuentos, números enteros: {v}.",
           "not_whole": "{a!r} no es un número entero; esto es un recuento.",
           "text": "{a!r} es texto (una cadena); se leyó como {v!r}. Escríbelo sin comillas.",
           "unknown": "ejercicio desconocido {ex!r}; se esperaba uno de {known}"},
}

_NUMBER = re.compile(r"^\s*([-+]?(?:\d[\d_]*(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z%]*)\s*$")


def _number(text: str) -> Optional[tuple[float, str]]:
    """'13' -> (13.0, ''), '10 ms' -> (10.0, 'ms'), '0,11' -> (0.11, ''), '1,981' -> (1981.0, '')."""
    m = _NUMBER.match(text)
    if not m:
        return None
    num, unit = m.group(1).replace("_", ""), m.group(2)
    if re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+", num):
        num = num.replace(",", "")                  # thousands separators
    return float(num.replace(",", ".")), unit     # a decimal comma


def _read(answer: Any, ex: Exercise) -> tuple[Any, Optional[tuple[str, dict]]]:
    """The answer as the question's kind, and a note (message key, fields) when its type was not that kind."""
    value: Any
    if getattr(answer, "ndim", None) == 0 and hasattr(answer, "item"):
        answer = answer.item()                      # NumPy / torch scalars
    if ex.kind in ("int", "float") and isinstance(answer, str):
        parsed = _number(answer)
        if parsed is None:
            return answer, None
        value, unit = parsed
        if unit and unit.lower() != ex.unit.lower():
            return answer, ("other_unit", {"unit": ex.unit}) if ex.unit else ("no_unit", {})
        value = int(value) if ex.kind == "int" and value.is_integer() else value
        shown = int(value) if float(value).is_integer() else value
        return value, ("unit" if unit else "str", {"v": shown, "unit": ex.unit})
    if ex.kind == "int" and isinstance(answer, float):
        if answer.is_integer():
            return int(answer), ("float_int", {"v": int(answer)})
        return answer, ("not_whole", {})
    if ex.kind == "tuple":
        value = answer
        note: Optional[tuple[str, dict]] = None
        if isinstance(answer, str):
            try:
                value, note = ast.literal_eval(answer), ("text", {})
            except (ValueError, SyntaxError):
                return answer, None
        if isinstance(value, (list, tuple)) and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                    for x in value):
            whole = all(float(x).is_integer() for x in value)
            if whole and any(isinstance(x, float) for x in value) and note is None:
                note = ("floats_int", {})
            value = tuple(int(x) if whole else x for x in value)
        if note is not None:
            note[1]["v"] = value
        return value, note
    return answer, None


def hint(exercise: str, lang: str = "en") -> str:
    """The exercise's hint, in English or Spanish."""
    ex = _exercise(exercise, lang)
    return ex.hint.get(lang, ex.hint["en"])


def _exercise(exercise: str, lang: str) -> Exercise:
    if exercise not in EXERCISES:
        raise KeyError(_MSG.get(lang, _MSG["en"])["unknown"].format(ex=exercise, known=", ".join(sorted(EXERCISES))))
    return EXERCISES[exercise]


def check(exercise: str, answer: Any, lang: str = "en", *, quiet: bool = False) -> Verdict:
    """Judge ``answer`` to ``exercise`` and print one message (unless ``quiet``): right, not answered
    yet (``None``, or a coding exercise's function that still returns None), or wrong with the
    exercise's hint. Never raises for an answer (only for an unknown exercise name)."""
    ex = _exercise(exercise, lang)
    msg = _MSG.get(lang, _MSG["en"])
    if ex.kind == "code":
        shown = getattr(answer, "__name__", repr(answer))
        right, why = (None, None) if answer is None else judge_function(exercise, answer)
        note = None
    else:
        shown = repr(answer)
        value, note = (None, None) if answer is None else _read(answer, ex)
        right = None if answer is None else bool(ex.judge(value))
        why = None
    if right is None:
        text = msg["todo_code" if ex.kind == "code" else "todo"].format(ex=exercise)
    elif right:
        text = msg["ok"].format(ex=exercise, a=shown)
    else:
        hint_text = ex.hint.get(lang, ex.hint["en"])
        text = (msg["why"].format(ex=exercise, a=shown, why=why.get(lang, why["en"]), hint=hint_text) if why
                else msg["wrong"].format(ex=exercise, a=shown, hint=hint_text)) + " " + msg["hidden"]
    if note is not None:
        text += "\n" + msg["note"].format(note=msg[note[0]].format(a=answer, **note[1]))
    if not quiet:
        print(text)
    return Verdict(exercise, bool(right), right is not None, text)


def grade(answers: dict, lang: str = "en") -> dict:
    """Teacher mode: ``{exercise: answer}`` -> ``{exercise: right?}``, without printing. Compare with
    :data:`convzoo.course_solutions.SOLUTIONS`, which the students' module does not import."""
    return {k: bool(check(k, a, lang, quiet=True)) for k, a in answers.items()}
