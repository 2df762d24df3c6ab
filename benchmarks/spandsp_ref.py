"""spandsp as a reference receiver: its DTMF detector and its caller ID (ADSI) FSK demodulator.

For the benchmarks only (issue 3): the same signals go to tipring's receivers and to spandsp, the
DSP library inside Asterisk and FreeSWITCH, so tipring's sensitivity figures sit beside an
established implementation's. This is a pure ctypes binding over Debian's runtime library
libspandsp.so.2 (bookworm: spandsp 0.0.6, `apt-get install libspandsp2`); nothing is compiled.
tipring itself never imports this module, and CI need not have the library.

Scaling (spandsp telephony.h, DBM0_MAX_SINE_POWER): samples are int16 at 8000 Hz and a full-scale
sine, peak 32767, is +3.14 dBm0. So a sine at L dBm0 has peak 32767 * 10**((L - 3.14) / 20)
(0 dBm0 = peak 22826; spandsp's own dds_scaling_dbm0f() gives the same). Levels the issue states
in dBm (-13.5 dBm caller ID) are taken as dBm0, i.e. a 0 dB line-to-codec gain.

    .venv/bin/python benchmarks/spandsp_ref.py            # self-check, then spandsp's figures
    .venv/bin/python benchmarks/spandsp_ref.py --check    # self-check only (a few seconds)
"""

from __future__ import annotations

import argparse
import ctypes
import json
import subprocess
import sys

import numpy as np

from harness.dsp.noise import noise_rms_for_snr, white_noise
from sweep import lowest_snr_holding

SAMPLE_RATE_HZ = 8000              # spandsp's receivers are fixed at 8 kS/s
FULL_SCALE_SINE_DBM0 = 3.14        # spandsp DBM0_MAX_SINE_POWER: peak 32767 sine
LIBRARY = "libspandsp.so.2"

DTMF_KEYS = "123A456B789C*0#D"
DTMF_ROW_HZ = (697.0, 770.0, 852.0, 941.0)
DTMF_COL_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
# dtmf_rx_init()'s built-in settings (spandsp dtmf.c): no dial tone notch, 8 dB normal twist
# (high group below low), 4 dB reverse twist, -42 dBm0 per-tone threshold.
DTMF_DEFAULT_PARMS = {"filter_dialtone": False, "normal_twist_db": 8, "reverse_twist_db": 4,
                      "threshold_dbm0": -42}

# Per standard: ADSI standard code (spandsp adsi.h) and the FSK mark/space frequencies.
ADSI_STANDARDS = {"bell202": 1,    # ADSI_STANDARD_CLASS, Bell 202: mark 1200 Hz, space 2200 Hz
                  "v23": 2}        # ADSI_STANDARD_CLIP, ETSI V.23: mark 1300 Hz, space 2100 Hz
FSK_MARK_SPACE_HZ = {"bell202": (1200.0, 2200.0), "v23": (1300.0, 2100.0)}
FSK_BAUD = 1200.0

# Reference messages without their checksum byte (type, length, parameters), which is what
# spandsp hands to put_msg. Bell 202: the MDMF worked example (03/24 09:02, name "JOHN DOE",
# number 8005551212; its checksum is 0x84, not the 0x7D printed beside it in telephony-facts
# 4.3); V.23: an ETSI call set-up with date/time, CLI and name.
BELL202_MDMF = bytes.fromhex("80 20 01 08 30 33 32 34 30 39 30 32 07 08 4A 4F 48 4E 20 44 4F 45"
                             " 02 0A 38 30 30 35 35 35 31 32 31 32")


def multiple_data_message(msg_type: int, params: list[tuple[int, bytes]]) -> bytes:
    """Type, length and (parameter type, length, value) fields of an MDMF/ETSI message, no checksum."""
    payload = b"".join(bytes([ptype, len(value)]) + value for ptype, value in params)
    return bytes([msg_type, len(payload)]) + payload


V23_CALL_SETUP = multiple_data_message(0x80, [(0x01, b"01150930"), (0x02, b"01632960123"), (0x07, b"ALICE")])
REFERENCE_MESSAGES = {"bell202": BELL202_MDMF, "v23": V23_CALL_SETUP}

_DIGITS_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_char), ctypes.c_int)
_PUT_MSG_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int)
_SAMPLES = ctypes.POINTER(ctypes.c_int16)


def _load() -> tuple[ctypes.CDLL | None, str]:
    """The library with its prototypes declared, or None and why not."""
    try:
        lib = ctypes.CDLL(LIBRARY)
    except OSError as err:
        return None, f"{LIBRARY} not loadable ({err}); install it with: apt-get install libspandsp2"
    lib.dtmf_rx_init.restype = ctypes.c_void_p
    lib.dtmf_rx_init.argtypes = [ctypes.c_void_p, _DIGITS_CALLBACK, ctypes.c_void_p]
    lib.dtmf_rx_parms.restype = None
    lib.dtmf_rx_parms.argtypes = [ctypes.c_void_p] + [ctypes.c_int] * 4
    lib.dtmf_rx.restype = ctypes.c_int
    lib.dtmf_rx.argtypes = [ctypes.c_void_p, _SAMPLES, ctypes.c_int]
    lib.dtmf_rx_free.restype = ctypes.c_int
    lib.dtmf_rx_free.argtypes = [ctypes.c_void_p]
    lib.adsi_rx_init.restype = ctypes.c_void_p
    lib.adsi_rx_init.argtypes = [ctypes.c_void_p, ctypes.c_int, _PUT_MSG_CALLBACK, ctypes.c_void_p]
    lib.adsi_rx.restype = ctypes.c_int
    lib.adsi_rx.argtypes = [ctypes.c_void_p, _SAMPLES, ctypes.c_int]
    lib.adsi_rx_free.restype = ctypes.c_int
    lib.adsi_rx_free.argtypes = [ctypes.c_void_p]
    lib.dds_scaling_dbm0f.restype = ctypes.c_float
    lib.dds_scaling_dbm0f.argtypes = [ctypes.c_float]
    return lib, ""


_LIB, _UNAVAILABLE_REASON = _load()


def available() -> bool:
    """True when libspandsp.so.2 loaded; unavailable_reason() says why not."""
    return _LIB is not None


def unavailable_reason() -> str:
    """One line saying why spandsp is unavailable, empty when it is available."""
    return _UNAVAILABLE_REASON


def spandsp_version() -> str:
    """The installed Debian package version of libspandsp2, or 'unknown' off Debian."""
    try:
        done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libspandsp2"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def _library() -> ctypes.CDLL:
    if _LIB is None:
        raise RuntimeError(_UNAVAILABLE_REASON)
    return _LIB


def sine_peak(level_dbm0: float) -> float:
    """Peak amplitude (int16 units) of a sine at level_dbm0 on spandsp's scale."""
    return 32767.0 * 10 ** ((level_dbm0 - FULL_SCALE_SINE_DBM0) / 20)


def sine_power(level_dbm0: float) -> float:
    """Mean power (int16 units^2) of a sine at level_dbm0 on spandsp's scale."""
    return sine_peak(level_dbm0) ** 2 / 2


def _as_int16(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Contiguous int16 samples; floats are rounded and saturated as a 16-bit codec would."""
    if sample_rate_hz != SAMPLE_RATE_HZ:
        raise ValueError(f"spandsp receivers run at {SAMPLE_RATE_HZ} Hz, got sample_rate_hz={sample_rate_hz}")
    x = np.asarray(samples)
    if x.ndim != 1 or x.size == 0 or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"samples must be a non-empty 1-D numeric array, got shape {x.shape} dtype {x.dtype}")
    return np.ascontiguousarray(np.clip(np.rint(x), -32768, 32767).astype(np.int16))


class _DtmfReceiver:
    """One spandsp dtmf_rx context; owns the C state and the callback that must outlive it."""

    def __init__(self):
        self.digits: list[str] = []
        # Held on self: ctypes frees a callback thunk once its Python object is collected.
        self._callback = _DIGITS_CALLBACK(self._on_digits)
        self._state = _library().dtmf_rx_init(None, self._callback, None)
        if not self._state:
            raise RuntimeError("dtmf_rx_init returned NULL")

    def _on_digits(self, _user_data, digits, count):
        self.digits.append(ctypes.string_at(digits, count).decode("ascii"))

    def parms(self, filter_dialtone: bool, normal_twist_db: int, reverse_twist_db: int,
              threshold_dbm0: int) -> None:
        """Set the receiver's settings through dtmf_rx_parms (twists in dB, threshold per tone)."""
        _library().dtmf_rx_parms(self._state, int(filter_dialtone), normal_twist_db, reverse_twist_db,
                                 threshold_dbm0)

    def feed(self, pcm: np.ndarray) -> None:
        _library().dtmf_rx(self._state, pcm.ctypes.data_as(_SAMPLES), len(pcm))

    def close(self) -> None:
        _library().dtmf_rx_free(self._state)
        self._state = None


def dtmf_digits(samples: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ,
                parms: dict | None = None) -> str:
    """Digits spandsp's DTMF receiver reports for samples (int16 units, 8 kHz; see module scaling).

    With parms None the receiver keeps dtmf_rx_init()'s built-in settings; otherwise parms is a
    dict with the keys of DTMF_DEFAULT_PARMS, passed through dtmf_rx_parms()
    (DTMF_DEFAULT_PARMS itself sets the built-in values explicitly).
    """
    pcm = _as_int16(samples, sample_rate_hz)
    if parms is not None and set(parms) != set(DTMF_DEFAULT_PARMS):
        raise ValueError(f"parms needs exactly the keys {sorted(DTMF_DEFAULT_PARMS)}, got {sorted(parms)}")
    receiver = _DtmfReceiver()
    try:
        if parms is not None:
            receiver.parms(**parms)
        receiver.feed(pcm)
    finally:
        receiver.close()
    return "".join(receiver.digits)


class _AdsiReceiver:
    """One spandsp adsi_rx context; owns the C state and the put_msg callback that must outlive it."""

    def __init__(self, standard: str):
        if standard not in ADSI_STANDARDS:
            raise ValueError(f"standard must be one of {sorted(ADSI_STANDARDS)}, got {standard!r}")
        self.messages: list[bytes] = []
        self._callback = _PUT_MSG_CALLBACK(self._on_message)  # held: see _DtmfReceiver
        self._state = _library().adsi_rx_init(None, ADSI_STANDARDS[standard], self._callback, None)
        if not self._state:
            raise RuntimeError("adsi_rx_init returned NULL")

    def _on_message(self, _user_data, msg, length):
        self.messages.append(ctypes.string_at(msg, length))

    def feed(self, pcm: np.ndarray) -> None:
        _library().adsi_rx(self._state, pcm.ctypes.data_as(_SAMPLES), len(pcm))

    def close(self) -> None:
        _library().adsi_rx_free(self._state)
        self._state = None


def callerid_messages(samples: np.ndarray, standard: str,
                      sample_rate_hz: int = SAMPLE_RATE_HZ) -> list[bytes]:
    """Caller ID messages spandsp's adsi_rx demodulates from samples (int16 units, 8 kHz).

    standard: 'bell202' (ADSI_STANDARD_CLASS) or 'v23' (ADSI_STANDARD_CLIP, ETSI V.23).
    spandsp verifies the checksum itself: a message whose modulo-256 sum (type, length, payload,
    checksum) is not zero is dropped, never delivered. A delivered message is the type byte,
    the length byte and the payload, with the checksum byte stripped (compare against
    REFERENCE_MESSAGES, or against a message body without its checksum).
    """
    pcm = _as_int16(samples, sample_rate_hz)
    receiver = _AdsiReceiver(standard)
    try:
        receiver.feed(pcm)
    finally:
        receiver.close()
    return receiver.messages


# ---- reference signals (numpy only) -----------------------------------------------------------

def reference_dtmf_signal(digits: str, level_dbm0: float = -7.0, on_ms: float = 50.0,
                          off_ms: float = 50.0) -> np.ndarray:
    """DTMF digits at 8 kHz in int16 units (float): each tone at level_dbm0, no twist.

    Each digit is on_ms of tone then off_ms of silence; the sequence starts with off_ms of
    silence too. Its power while a tone is on is dtmf_on_power(level_dbm0).
    """
    if any(d not in DTMF_KEYS for d in digits) or not digits:
        raise ValueError(f"digits must be a non-empty string of {DTMF_KEYS}, got {digits!r}")
    on = int(round(on_ms * SAMPLE_RATE_HZ / 1000))
    off = int(round(off_ms * SAMPLE_RATE_HZ / 1000))
    t = np.arange(on) / SAMPLE_RATE_HZ
    peak = sine_peak(level_dbm0)
    parts = [np.zeros(off)]
    for digit in digits:
        row, col = divmod(DTMF_KEYS.index(digit), 4)
        tone = peak * (np.sin(2 * np.pi * DTMF_ROW_HZ[row] * t) + np.sin(2 * np.pi * DTMF_COL_HZ[col] * t))
        parts += [tone, np.zeros(off)]
    return np.concatenate(parts)


def dtmf_on_power(level_dbm0: float) -> float:
    """Power (int16 units^2) of a DTMF pair while on, both tones at level_dbm0."""
    return 2 * sine_power(level_dbm0)


def with_checksum(body: bytes) -> bytes:
    """body followed by its caller ID checksum: two's complement of the modulo-256 byte sum."""
    return body + bytes([-sum(body) & 0xFF])


def reference_fsk_signal(message: bytes, standard: str, level_dbm0: float = -13.5,
                         seizure_bits: int = 300, mark_bits: int = 180,
                         silence_ms: float = 100.0) -> np.ndarray:
    """On-hook caller ID FSK at 8 kHz in int16 units (float), continuous phase, 1200 bit/s.

    message is sent as given (include its checksum, see with_checksum) as 8N1 characters, LSB
    first, after seizure_bits alternating bits (0 first) and mark_bits marks, and followed by
    2 mark bits; silence_ms of silence before and after. Power while on is sine_power(level_dbm0).
    """
    if standard not in FSK_MARK_SPACE_HZ:
        raise ValueError(f"standard must be one of {sorted(FSK_MARK_SPACE_HZ)}, got {standard!r}")
    bits = [i & 1 for i in range(seizure_bits)] + [1] * mark_bits
    for byte in message:
        bits += [0] + [(byte >> i) & 1 for i in range(8)] + [1]
    bits += [1, 1]
    mark_hz, space_hz = FSK_MARK_SPACE_HZ[standard]
    n = int(np.ceil(len(bits) * SAMPLE_RATE_HZ / FSK_BAUD))
    bit_of_sample = np.minimum((np.arange(n) * FSK_BAUD / SAMPLE_RATE_HZ).astype(int), len(bits) - 1)
    freq_hz = np.where(np.asarray(bits)[bit_of_sample] == 1, mark_hz, space_hz)
    phase = 2 * np.pi * np.cumsum(freq_hz) / SAMPLE_RATE_HZ
    silence = np.zeros(int(round(silence_ms * SAMPLE_RATE_HZ / 1000)))
    return np.concatenate([silence, sine_peak(level_dbm0) * np.sin(phase), silence])


# ---- sensitivity ------------------------------------------------------------------------------

def _common_digits(sent: str, got: str) -> int:
    """Length of the longest common subsequence: digits decoded in order, ignoring extras."""
    # common[i][j]: answer for sent[:i] against got[:j] (textbook dynamic programme)
    common = [[0] * (len(got) + 1) for _ in range(len(sent) + 1)]
    for i, a in enumerate(sent, start=1):
        for j, b in enumerate(got, start=1):
            common[i][j] = common[i - 1][j - 1] + 1 if a == b else max(common[i - 1][j], common[i][j - 1])
    return common[-1][-1]


def dtmf_sensitivity(trials: int = 1000, snrs=range(0, 16), level_dbm0: float = -7.0,
                     seed: int = 3) -> dict:
    """spandsp DTMF decode rate against SNR: all 16 digits, 50 ms on / 50 ms off, per trial.

    Each tone at level_dbm0 (default -7 dBm0); white Gaussian noise over 0-4 kHz on the whole
    capture, SNR = power of the tone pair while on / noise variance. A trial passes when the
    decoded string is exactly the 16 digits (none missed, none extra). Returns per-SNR
    sequence_rate (trials passed), digit_rate (digits decoded in order) and extra_digits
    (decoded beyond those), and all_decoded_snr_db: the lowest SNR from which every trial
    passes at every higher SNR of the sweep (None if even the top one fails).
    """
    rng = np.random.default_rng(seed)
    clean = reference_dtmf_signal(DTMF_KEYS, level_dbm0)
    on_power = dtmf_on_power(level_dbm0)
    by_snr = {}
    for snr in snrs:
        rms = noise_rms_for_snr(on_power, snr)
        passed = matched = extra = 0
        for _ in range(trials):
            got = dtmf_digits(clean + white_noise(len(clean), rms, rng))
            common = _common_digits(DTMF_KEYS, got)
            passed += got == DTMF_KEYS
            matched += common
            extra += len(got) - common
        by_snr[float(snr)] = {"sequence_rate": passed / trials,
                              "digit_rate": matched / (trials * len(DTMF_KEYS)),
                              "extra_digits": extra}
    rates = {snr: row["sequence_rate"] for snr, row in by_snr.items()}
    return {"level_dbm0_per_tone": level_dbm0, "on_ms": 50.0, "off_ms": 50.0, "trials": trials,
            "by_snr_db": by_snr, "all_decoded_snr_db": lowest_snr_holding(rates, 1.0)}


def callerid_sensitivity(standard: str, trials: int = 1000, snrs=range(4, 19),
                         level_dbm0: float = -13.5, seed: int = 3) -> dict:
    """spandsp caller ID decode rate against SNR for 'bell202' (MDMF) or 'v23' (ETSI call set-up).

    FSK at level_dbm0 (default -13.5) with 300 seizure bits and 180 mark bits; white Gaussian
    noise over 0-4 kHz on the whole capture, SNR = FSK power while on / noise variance. A trial
    passes when spandsp delivers the message sent, byte-for-byte; any other message it delivers
    (noise that happened to pass the checksum) is counted in extra_messages, not as a failure.
    Returns the per-SNR rate, the per-SNR extra_messages and snr_95pct_db: the lowest SNR from
    which the rate stays >= 95 % at every higher SNR of the sweep (None if even the top one fails).
    """
    if standard not in REFERENCE_MESSAGES:
        raise ValueError(f"standard must be one of {sorted(REFERENCE_MESSAGES)}, got {standard!r}")
    rng = np.random.default_rng(seed)
    expected = REFERENCE_MESSAGES[standard]
    clean = reference_fsk_signal(with_checksum(expected), standard, level_dbm0)
    on_power = sine_power(level_dbm0)
    rates, extras = {}, {}
    for snr in snrs:
        rms = noise_rms_for_snr(on_power, snr)
        passed = extra = 0
        for _ in range(trials):
            got = callerid_messages(clean + white_noise(len(clean), rms, rng), standard)
            passed += expected in got
            extra += sum(msg != expected for msg in got)
        rates[float(snr)] = passed / trials
        extras[float(snr)] = extra
    return {"standard": standard, "level_dbm0": level_dbm0, "seizure_bits": 300, "mark_bits": 180,
            "trials": trials, "rate_by_snr_db": rates, "extra_messages_by_snr_db": extras,
            "snr_95pct_db": lowest_snr_holding(rates, 0.95)}


def figures() -> dict:
    """spandsp's column for the DSP accuracy table: the three sensitivity sweeps and their summary."""
    dtmf = dtmf_sensitivity()
    bell202 = callerid_sensitivity("bell202")
    v23 = callerid_sensitivity("v23")
    return {"library": LIBRARY, "version": spandsp_version(),
            "scaling": f"int16 at {SAMPLE_RATE_HZ} Hz, full-scale sine = +{FULL_SCALE_SINE_DBM0} dBm0",
            "dtmf_all_decoded_snr_db": dtmf["all_decoded_snr_db"],
            "bell202_snr_95pct_db": bell202["snr_95pct_db"],
            "v23_snr_95pct_db": v23["snr_95pct_db"],
            "dtmf": dtmf, "bell202": bell202, "v23": v23}


# ---- self-check -------------------------------------------------------------------------------

def self_check() -> None:
    """Asserts the binding works end to end; raises AssertionError naming what failed."""
    lib = _library()
    assert abs(lib.dds_scaling_dbm0f(0.0) - sine_peak(0.0)) < 1.0, "dBm0 scaling disagrees with spandsp"
    sdmf = bytes.fromhex("04 12 30 39 33 30 31 32 32 34 36 30 39 35 35 35 31 32 31 32")
    assert with_checksum(sdmf)[-1] == 0x51, "checksum of the SDMF worked example is not 0x51"
    assert multiple_data_message(0x80, [(0x01, b"03240902"), (0x07, b"JOHN DOE"), (0x02, b"8005551212")]) \
        == BELL202_MDMF, "MDMF layout"

    assert (_common_digits("123", "13"), _common_digits("123", "3122"), _common_digits("", "1")) == (2, 2, 0), \
        "digit matching"
    assert dtmf_digits(reference_dtmf_signal(DTMF_KEYS)) == DTMF_KEYS, "clean 16 digits"
    assert dtmf_digits(np.zeros(8000)) == "", "silence decoded as digits"
    # Either side of the -42 dBm0 per-tone threshold, with built-in and explicit default settings.
    for parms in (None, DTMF_DEFAULT_PARMS):
        assert dtmf_digits(reference_dtmf_signal("5", -40.0, on_ms=80), parms=parms) == "5", "-40 dBm0"
        assert dtmf_digits(reference_dtmf_signal("5", -44.0, on_ms=80), parms=parms) == "", "-44 dBm0"
    loose = dict(DTMF_DEFAULT_PARMS, threshold_dbm0=-50)
    assert dtmf_digits(reference_dtmf_signal("5", -44.0, on_ms=80), parms=loose) == "5", "parms ignored"
    # More digits than spandsp's 128-digit buffer: the callback path must lose none.
    assert dtmf_digits(reference_dtmf_signal(DTMF_KEYS * 9)) == DTMF_KEYS * 9, "144 digits"

    for standard, body in REFERENCE_MESSAGES.items():
        clean = reference_fsk_signal(with_checksum(body), standard)
        assert callerid_messages(clean, standard) == [body], f"{standard}: clean message"
        bad = body + bytes([(with_checksum(body)[-1] + 1) & 0xFF])
        assert callerid_messages(reference_fsk_signal(bad, standard), standard) == [], \
            f"{standard}: a wrong checksum was delivered"

    for bad_call in (lambda: dtmf_digits(np.zeros(100), sample_rate_hz=16000),
                     lambda: callerid_messages(np.zeros(100), "jclip"),
                     lambda: dtmf_digits(np.zeros((2, 100)))):
        try:
            bad_call()
        except ValueError:
            continue
        raise AssertionError("bad input accepted")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="self-check only, no sensitivity sweeps")
    parser.add_argument("--json", action="store_true", help="print figures() as JSON")
    args = parser.parse_args(argv)
    if not available():
        print(f"spandsp unavailable: {unavailable_reason()}", file=sys.stderr)
        return 1
    self_check()
    print(f"self-check passed ({LIBRARY}, spandsp {spandsp_version()})")
    if args.check:
        return 0
    result = figures()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"DTMF all 16 digits, each tone {result['dtmf']['level_dbm0_per_tone']} dBm0, 50/50 ms, "
          f"{result['dtmf']['trials']} trials per SNR")
    for snr, row in result["dtmf"]["by_snr_db"].items():
        print(f"  SNR {snr:4.0f} dB  sequences {row['sequence_rate']:6.1%}  digits {row['digit_rate']:6.1%}"
              f"  extra {row['extra_digits']}")
    print(f"  all digits in all trials from {result['dtmf_all_decoded_snr_db']} dB")
    for standard in ("bell202", "v23"):
        sweep = result[standard]
        print(f"caller ID {standard} at {sweep['level_dbm0']} dBm0, {sweep['trials']} trials per SNR")
        for snr, rate in sweep["rate_by_snr_db"].items():
            print(f"  SNR {snr:4.0f} dB  decoded {rate:6.1%}  extra messages {sweep['extra_messages_by_snr_db'][snr]}")
        print(f"  >= 95 % from {sweep['snr_95pct_db']} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
