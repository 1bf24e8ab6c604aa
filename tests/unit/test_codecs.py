"""RFC 6381 codec strings from decoder configuration records (what master playlists declare)."""

from vstream.media.codecs import aac, av1, avc, codec_string, combined, hevc


def test_h264_from_avcc_and_from_an_annex_b_sps():
    assert avc(bytes([1, 0x64, 0x00, 0x28, 0xFF])) == "avc1.640028"  # High, level 4.0
    annex_b = b"\x00\x00\x00\x01\x67\x4d\x40\x1f\xaa\x00\x00\x01\x68\xee"  # SPS: Main, constraint 0x40, level 3.1
    assert avc(annex_b) == "avc1.4d401f"
    assert avc(b"") is None and avc(b"\x00\x00\x01\x68\xee") is None  # no SPS: nothing to declare


def test_hevc_from_hvcc():
    # Main profile, general compatibility flags 0x60000000 (bits 1 and 2), Main tier, level 3.1 (93),
    # constraint flags 0xB0 then zeros (trailing zero bytes are left out)
    record = bytes([1, 0x01, 0x60, 0, 0, 0, 0xB0, 0, 0, 0, 0, 0, 93]) + b"\x00" * 10
    assert hevc(record) == "hvc1.1.6.L93.B0"
    high_tier = bytes([1, 0x22, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 150])  # Main 10, High tier, level 5.0
    assert hevc(high_tier) == "hvc1.2.4.H150"


def test_av1_and_aac():
    assert av1(bytes([0x81, 0x08, 0x0C, 0x00])) == "av01.0.08M.08"
    assert av1(bytes([0x81, 0x2D, 0xC0])) == "av01.1.13H.10"  # profile 1, level 13, high tier, 10-bit
    assert aac(bytes([0x12, 0x10])) == "mp4a.40.2"  # AAC-LC AudioSpecificConfig
    assert aac(bytes([0x2B, 0x92, 0x08, 0x00])) == "mp4a.40.5"  # HE-AAC
    assert aac(b"", "HE-AAC") == "mp4a.40.5" and aac(b"") == "mp4a.40.2"  # ADTS: no config yet
    assert codec_string("mpeg4", b"") is None


def test_a_composition_declares_each_family_once_by_its_most_demanding_stream():
    assert combined(["avc1.42c01e", "mp4a.40.2", "avc1.640028", "avc1.4d401f", "mp4a.40.2"]) == ["avc1.640028", "mp4a.40.2"]
    assert combined(["mp4a.40.2", "hvc1.1.6.L93.B0", "avc1.64001e"]) == ["avc1.64001e", "hvc1.1.6.L93.B0", "mp4a.40.2"]
    assert combined(["mp4a.40.2", "mp4a.40.5"]) == ["mp4a.40.5"]
