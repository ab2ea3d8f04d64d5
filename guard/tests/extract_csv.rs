//! CSV and TSV attachments: delimiter sniffing, RFC 4180 quoting, and the `header: value` lines.
#![cfg(feature = "extract")]

use sealpost_guard::extract::{Format, Limits, extract_text};

fn csv(name: &str, input: &[u8]) -> String {
    let out = extract_text(name, input, &Limits::default()).expect("CSV extracts");
    assert_eq!(out.format, Format::Csv, "{name}");
    assert!(!out.truncated);
    out.text
}

#[test]
fn every_cell_carries_its_column_header() {
    let input = b"NHS number,DOB,Name\n943 476 5919,01/02/1980,Jane Doe\n485 777 3456,03/04/1990,John Roe\n";
    assert_eq!(
        csv("patients.csv", input),
        "NHS number: 943 476 5919; DOB: 01/02/1980; Name: Jane Doe\n\
         NHS number: 485 777 3456; DOB: 03/04/1990; Name: John Roe"
    );
}

#[test]
fn quoted_fields_keep_delimiters_doubled_quotes_and_newlines() {
    let input = b"Name,Address,Note\r\n\"Doe, Jane\",\"1 High St\r\nLondon\",\"She said \"\"hi\"\"\"\r\nRoe,\"\",x\r\n";
    assert_eq!(
        csv("a.csv", input),
        "Name: Doe, Jane; Address: 1 High St London; Note: She said \"hi\"\nName: Roe; Note: x"
    );
}

#[test]
fn semicolon_delimiter_is_sniffed_despite_decimal_commas() {
    let input = "Naam;BSN;Bedrag\nJan;111222333;1,50\nPiet;123456782;2,75\n";
    assert_eq!(
        csv("export.csv", input.as_bytes()),
        "Naam: Jan; BSN: 111222333; Bedrag: 1,50\nNaam: Piet; BSN: 123456782; Bedrag: 2,75"
    );
}

#[test]
fn tab_delimiter_is_sniffed_and_forced_for_tsv() {
    let input = b"Name\tNINO\nJane, Doe\tQQ 12 34 56 C\n";
    let expected = "Name: Jane, Doe; NINO: QQ 12 34 56 C";
    assert_eq!(csv("a.csv", input), expected);
    assert_eq!(csv("a.TSV", input), expected);
    // A .tsv is split on tabs even where commas agree better.
    assert_eq!(csv("b.tsv", b"a,b\tc\n1,2\t3\n"), "a,b: 1,2; c: 3");
}

#[test]
fn byte_order_mark_is_not_part_of_the_first_header() {
    let input = "\u{FEFF}DOB,Name\n01/02/1980,Jane\n";
    assert_eq!(csv("a.csv", input.as_bytes()), "DOB: 01/02/1980; Name: Jane");
}

#[test]
fn empty_cells_and_blank_rows_are_left_out() {
    assert_eq!(csv("a.csv", b"A,B,C\n1,,3\n,,\n\n ,x, \n"), "A: 1; C: 3\nB: x");
}

#[test]
fn cells_past_the_headers_are_kept_plainly() {
    assert_eq!(csv("a.csv", b"A,B\n1,2,3\n"), "A: 1; B: 2; 3");
}

#[test]
fn a_first_row_of_numbers_is_data_not_headers() {
    let input = b"943 476 5919,01/02/1980,Jane\n485 777 3456,03/04/1990,John\n";
    assert_eq!(
        csv("a.csv", input),
        "943 476 5919; 01/02/1980; Jane\n485 777 3456; 03/04/1990; John"
    );
}

#[test]
fn a_header_row_alone_is_still_text() {
    assert_eq!(csv("a.csv", b"Name,DOB"), "Name; DOB");
}

#[test]
fn windows_1252_csv_is_decoded() {
    assert_eq!(
        csv("a.csv", b"Name;Stadt\nJ\xfcrgen;K\xf6ln\n"),
        "Name: J\u{fc}rgen; Stadt: K\u{f6}ln"
    );
}

#[test]
fn unterminated_quote_takes_the_rest_of_the_file() {
    assert_eq!(csv("a.csv", b"A,B\n1,\"2\n3"), "A: 1; B: 2 3");
}

#[test]
fn long_output_is_truncated_at_max_text() {
    let mut input = String::from("Name,DOB\n");
    for i in 0..1000 {
        input.push_str(&format!("P{i},01/02/1980\n"));
    }
    let limits = Limits {
        max_text: 100,
        ..Limits::default()
    };
    let out = extract_text("a.csv", input.as_bytes(), &limits).unwrap();
    assert!(out.truncated);
    assert_eq!(out.text.len(), 100);
    assert!(
        out.text
            .starts_with("Name: P0; DOB: 01/02/1980\nName: P1; DOB: 01/02/1980\n")
    );
}
