import io
import json

import pytest

from catalog.exceptions import FeedError
from catalog.ingest import files
from catalog.ingest.files import read_csv, read_json_array, read_jsonl


def refs(records):
    return [(r.ref, r.data.get("external_id"), r.error) for r in records]


def test_jsonl_numbers_records_by_line_and_tolerates_bom_and_blank_lines():
    data = b'\xef\xbb\xbf{"external_id": "a"}\n\n{"external_id": "b"}\nnot json\n[1]\n'
    records = list(read_jsonl(io.BufferedReader(io.BytesIO(data))))
    assert [(r.ref, r.data.get("external_id")) for r in records[:2]] == [
        ("line 1", "a"),
        ("line 3", "b"),
    ]
    assert records[2].ref == "line 4"
    assert records[2].error[0] == "record"
    assert records[2].error[1].startswith("is not valid JSON")
    assert (records[3].ref, records[3].error) == ("line 5", ("record", "must be a JSON object"))


def test_json_array_streams_across_chunks_with_line_numbers(monkeypatch):
    monkeypatch.setattr(files, "CHUNK", 7)  # objects straddle many reads
    text = '[\n  {"external_id": "a", "title": "Ünïcode"},\n  {"external_id": "b"},\n  3\n]\n'
    records = list(read_json_array(io.StringIO(text)))
    assert refs(records) == [
        ("line 2", "a", None),
        ("line 3", "b", None),
        ("line 4", None, ("record", "must be a JSON object")),
    ]
    assert records[0].data["title"] == "Ünïcode"


def test_json_array_of_many_objects_is_read_whole():
    items = [{"external_id": str(i)} for i in range(5000)]
    records = list(read_json_array(io.StringIO(json.dumps(items, indent=1))))
    assert [r.data["external_id"] for r in records] == [str(i) for i in range(5000)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"external_id": "a"}', "A JSON feed must be an array of product objects"),
        ('[{"external_id": "a"},', "The JSON array is not closed (line 1)."),
        ('[\n{"external_id": "a"},\n{"external_id": }\n]', "line 3: invalid JSON"),
    ],
)
def test_broken_json_arrays_are_feed_errors(text, message):
    with pytest.raises(FeedError, match=message.replace("(", r"\(").replace(")", r"\)")):
        list(read_json_array(io.StringIO(text)))


def test_csv_tolerates_bom_and_counts_lines_of_multiline_fields():
    text = (
        "\ufeffexternal_id,title,price,product_url\n"
        'a,"Shirt, blue",1,https://s.example/a\n'
        'b,"Two\nlines",2,https://s.example/b\n'
        "c,Coat,3,https://s.example/c,extra\n"
    )
    # The BOM is stripped by open_feed's utf-8-sig; here it comes pre-decoded.
    records = list(read_csv(io.StringIO(text.lstrip("\ufeff"))))
    assert refs(records) == [
        ("line 2", "a", None),
        ("line 3", "b", None),
        ("line 5", None, ("record", "has more fields than the header")),
    ]
    assert records[1].data["title"] == "Two\nlines"


def test_csv_without_required_columns_is_a_feed_error():
    with pytest.raises(FeedError, match="lacks required columns: price, product_url"):
        list(read_csv(io.StringIO("external_id,title\na,b\n")))


def test_open_feed_names_a_missing_file(tmp_path):
    with pytest.raises(FeedError, match=r"Cannot read .*missing\.jsonl: No such file"):
        files.open_feed(tmp_path / "missing.jsonl", binary=True)


def test_csv_file_with_bom_through_open_feed(tmp_path):
    path = tmp_path / "feed.csv"
    path.write_bytes(
        "external_id,title,price,product_url\na,Ä,1,https://s.example/a\n".encode("utf-8-sig")
    )
    with files.open_feed(path, binary=False) as handle:
        records = list(read_csv(handle))
    assert records[0].data == {
        "external_id": "a",
        "title": "Ä",
        "price": "1",
        "product_url": "https://s.example/a",
    }
