//! The bytes Asterisk's HTTP server writes: the three manager formats and its pages.
//!
//! Everything here follows what a real Asterisk 22 sends (the `ajam-*.txt`
//! recordings): `rawman` is the AMI text itself; `mxml` and `manager` translate that
//! text line by line, the way Asterisk does, so that a `Command` answer or a line
//! without a colon comes out the same too.

use std::collections::HashMap;

/// The output format of a manager request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `/manager`: an HTML page with a test form and a table.
    Html,
    /// `/mxml`: an `<ajax-response>` document.
    Xml,
    /// `/rawman`: the AMI text.
    Raw,
}

impl Format {
    /// The `Content-type` Asterisk sends for it.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Html => "text/html",
            Format::Xml => "text/xml",
            Format::Raw => "text/plain",
        }
    }
}

/// The test form `/manager` shows above every answer (Asterisk's own markup).
const TEST_FORM: &str = "<form action=\"manager\" method=\"post\">\n\
\tAction: <select name=\"action\">\n\
\t\t<option value=\"\">-----&gt;</option>\n\
\t\t<option value=\"login\">login</option>\n\
\t\t<option value=\"command\">Command</option>\n\
\t\t<option value=\"waitevent\">waitevent</option>\n\
\t\t<option value=\"listcommands\">listcommands</option>\n\
\t</select>\n\
\tor <input name=\"action\"><br/>\n\
\tCLI Command <input name=\"command\"><br>\n\
\tuser <input name=\"username\"> pass <input type=\"password\" name=\"secret\"><br>\n\
\t<input type=\"submit\">\n</form>\n";

/// The body of a manager answer: `ami` is the AMI text of the response (and of its
/// list events); `ajax_dest` and `ajax_objtype` are the request's `ajaxdest` and
/// `ajaxobjtype` (mxml only).
pub fn manager_body(
    format: Format,
    ami: &[u8],
    ajax_dest: Option<&[u8]>,
    ajax_objtype: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(ami.len() * 2 + 256);
    match format {
        Format::Raw => out.extend_from_slice(ami),
        Format::Xml => {
            out.extend_from_slice(b"<ajax-response>\n");
            translate(&mut out, ami, true, ajax_dest, ajax_objtype);
            out.extend_from_slice(b"</ajax-response>\n");
        }
        Format::Html => {
            out.extend_from_slice(b"<title>Asterisk&trade; Manager Interface</title>");
            out.extend_from_slice(
                b"<body bgcolor=\"#ffffff\"><table align=center bgcolor=\"#f1f1f1\" width=\"500\">\r\n",
            );
            for cell in ["<h1>Manager Tester</h1>", TEST_FORM] {
                out.extend_from_slice(b"<tr><td colspan=\"2\" bgcolor=\"#f1f1ff\">");
                out.extend_from_slice(cell.as_bytes());
                out.extend_from_slice(b"</td></tr>\r\n");
            }
            translate(&mut out, ami, false, None, None);
            out.extend_from_slice(b"</table></body>\r\n");
        }
    }
    out
}

/// Asterisk's text-to-XML/HTML translation: each block of `Name: value` lines becomes
/// one `<response>` element (attributes) or table rows; a blank line ends a block; a
/// line without a colon starts opaque data that runs to the end of the block.
fn translate(
    out: &mut Vec<u8>,
    text: &[u8],
    xml: bool,
    dest: Option<&[u8]>,
    objtype: Option<&[u8]>,
) {
    let dest = dest.filter(|d| !d.is_empty()).unwrap_or(b"unknown");
    let objtype = objtype.filter(|o| !o.is_empty()).unwrap_or(b"generic");
    let mut in_block = false;
    let mut in_data = false;
    // How often each name was seen in this block: repeats become `name-2`, `name-3`.
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    let mut rest = Some(text);
    while let Some(input) = rest.filter(|r| !r.is_empty()) {
        let (line, after) = split_line(input);
        rest = after;
        let line = trim_end(line);
        if line.is_empty() {
            if in_data {
                out.extend_from_slice(if xml { b"'" } else { b"</td></tr>\n" });
                in_data = false;
            }
            if in_block {
                close_block(out, xml);
                in_block = false;
                seen.clear();
            }
            continue;
        }
        if !in_block {
            if xml {
                out.extend_from_slice(b"<response type='object' id='");
                escape(out, dest, Names::Keep);
                out.extend_from_slice(b"'><");
                escape(out, objtype, Names::Attribute);
            }
            in_block = true;
        }
        if in_data {
            out.extend_from_slice(if xml { b"\n" } else { b"<br>\n" });
            escape(out, line, Names::Keep);
            continue;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => (trim_end(&line[..colon]), skip_blanks(&line[colon + 1..])),
            None => {
                in_data = true;
                (&b"Opaque-data"[..], line)
            }
        };
        out.extend_from_slice(if xml { b" " } else { b"<tr><td>" });
        let count = seen.entry(name).or_insert(0);
        *count += 1;
        escape(
            out,
            name,
            if xml {
                Names::LowerAttribute
            } else {
                Names::Keep
            },
        );
        if *count > 1 {
            out.extend_from_slice(format!("-{count}").as_bytes());
        }
        out.extend_from_slice(if xml { b"='" } else { b"</td><td>" });
        escape(out, value, Names::Keep);
        let input_left = rest.is_some_and(|r| !r.is_empty());
        if !in_data || !input_left {
            out.extend_from_slice(if xml { b"'" } else { b"</td></tr>\n" });
        }
    }
    if in_block {
        close_block(out, xml);
    }
}

fn close_block(out: &mut Vec<u8>, xml: bool) {
    out.extend_from_slice(if xml {
        b" /></response>\n"
    } else {
        b"<tr><td colspan=\"2\"><hr></td></tr>\r\n"
    });
}

/// Splits at the first CR or LF, a CRLF counting as one line end.
fn split_line(input: &[u8]) -> (&[u8], Option<&[u8]>) {
    match input.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(end) => {
            let mut after = &input[end + 1..];
            if let Some(rest) = after.strip_prefix(b"\n") {
                after = rest;
            }
            (&input[..end], Some(after))
        }
        None => (input, None),
    }
}

/// Asterisk's blanks: every byte up to and including the space.
fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|&b| b > b' ').map_or(0, |i| i + 1);
    &bytes[..end]
}

fn skip_blanks(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b > b' ').unwrap_or(bytes.len());
    &bytes[start..]
}

/// How [`escape`] treats its input.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Names {
    /// A value: only the XML special characters change.
    Keep,
    /// An element name: anything not alphanumeric becomes `_`, a leading digit gets `_`.
    Attribute,
    /// An attribute name: as [`Names::Attribute`], lower-cased.
    LowerAttribute,
}

fn escape(out: &mut Vec<u8>, text: &[u8], names: Names) {
    for (i, &b) in text.iter().enumerate() {
        if names != Names::Keep {
            if i == 0 && b.is_ascii_digit() {
                out.push(b'_');
                out.push(b);
                continue;
            }
            if !b.is_ascii_alphanumeric() {
                out.push(b'_');
                continue;
            }
        }
        match b {
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\'' => out.extend_from_slice(b"&apos;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            _ if names == Names::LowerAttribute => out.push(b.to_ascii_lowercase()),
            _ => out.push(b),
        }
    }
}

/// Escapes for the HTML pages: `<`, `>`, `&` and `"`, as Asterisk's status page does.
fn escape_html(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            other => out.push(other),
        }
    }
}

/// Asterisk's error page (404, 403, 413 ...), naming the server.
pub fn error_page(status: u16, title: &str, text: &str, server_name: &str) -> String {
    let mut escaped = String::new();
    escape_html(&mut escaped, text);
    let mut address = String::new();
    if !server_name.is_empty() {
        address.push_str("<address>");
        escape_html(&mut address, server_name);
        address.push_str("</address>\r\n");
    }
    format!(
        "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\r\n\
         <html><head>\r\n\
         <title>{status} {title}</title>\r\n\
         </head><body>\r\n\
         <h1>{title}</h1>\r\n\
         <p>{escaped}</p>\r\n\
         <hr />\r\n\
         {address}\
         </body></html>\r\n"
    )
}

/// What `/httpstatus` shows: the server, the prefix, the address, and the request's
/// query parameters and cookies echoed back (escaped).
pub struct StatusPage<'a> {
    pub server_name: &'a str,
    pub prefix: &'a str,
    pub bind_address: &'a str,
    pub query: &'a [(String, String)],
    pub cookies: &'a [(String, String)],
}

impl StatusPage<'_> {
    pub fn render(&self) -> String {
        let mut out = String::from(
            "<html><title>Asterisk HTTP Status</title>\r\n\
             <body bgcolor=\"#ffffff\">\r\n\
             <table bgcolor=\"#f1f1f1\" align=\"center\"><tr><td bgcolor=\"#e0e0ff\" colspan=\"2\" width=\"500\">\r\n\
             <h2>&nbsp;&nbsp;Asterisk&trade; HTTP Status</h2></td></tr>\r\n",
        );
        for (label, value) in [
            ("Server", self.server_name),
            ("Prefix", self.prefix),
            ("Bind Address", self.bind_address),
        ] {
            out.push_str(&format!(
                "<tr><td><i>{label}</i></td><td><b>{value}</b></td></tr>\r\n"
            ));
        }
        out.push_str("<tr><td colspan=\"2\"><hr></td></tr>\r\n");
        for (kind, pairs) in [
            ("Submitted GET Variable", self.query),
            ("Cookie", self.cookies),
        ] {
            for (name, value) in pairs {
                out.push_str(&format!("<tr><td><i>{kind} '"));
                escape_html(&mut out, name);
                out.push_str("'</i></td><td>");
                escape_html(&mut out, value);
                out.push_str("</td></tr>\r\n");
            }
            if kind != "Cookie" {
                out.push_str("<tr><td colspan=\"2\"><hr></td></tr>\r\n");
            }
        }
        out.push_str("</table><center><font size=\"-1\"><i>Asterisk and Digium are registered trademarks of Digium, Inc.</i></font></center></body></html>\r\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(text: &str) -> String {
        String::from_utf8(manager_body(Format::Xml, text.as_bytes(), None, None)).unwrap()
    }

    #[test]
    fn mxml_lower_cases_names_numbers_repeats_and_escapes_values() {
        let out = xml(
            "Response: Success\r\nOutput: a <b>\r\nOutput: 'c' & \"d\"\r\n3rd-Key: x\r\nAccountCode: \r\n\r\n",
        );
        assert_eq!(
            out,
            "<ajax-response>\n<response type='object' id='unknown'><generic response='Success' \
             output='a &lt;b&gt;' output-2='&apos;c&apos; &amp; &quot;d&quot;' _3rd_key='x' \
             accountcode='' /></response>\n</ajax-response>\n"
        );
    }

    #[test]
    fn a_line_without_colon_is_opaque_data_to_the_blank_line() {
        let out = xml("Response: Follows\r\nfirst line\nsecond <line>\n\r\n");
        assert_eq!(
            out,
            "<ajax-response>\n<response type='object' id='unknown'><generic response='Follows' \
             opaque_data='first line\nsecond &lt;line&gt;' /></response>\n</ajax-response>\n"
        );
    }

    #[test]
    fn ajaxdest_and_objtype_name_the_element_and_cannot_inject_markup() {
        let out = manager_body(
            Format::Xml,
            b"Response: Success\r\n\r\n",
            Some(b"div'><x>".as_slice()),
            Some(b"ping result".as_slice()),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<ajax-response>\n<response type='object' id='div&apos;&gt;&lt;x&gt;'><ping_result \
             response='Success' /></response>\n</ajax-response>\n"
        );
    }

    #[test]
    fn html_rows_and_block_separators() {
        let out = manager_body(
            Format::Html,
            b"Response: Error\r\nMessage: <no>\r\n\r\n",
            None,
            None,
        );
        let out = String::from_utf8(out).unwrap();
        assert!(out.ends_with(
            "</form>\n</td></tr>\r\n<tr><td>Response</td><td>Error</td></tr>\n\
             <tr><td>Message</td><td>&lt;no&gt;</td></tr>\n\
             <tr><td colspan=\"2\"><hr></td></tr>\r\n</table></body>\r\n"
        ));
    }

    #[test]
    fn the_error_page_escapes_its_text() {
        let page = error_page(404, "Not Found", "<script>", "AstPanel");
        assert!(
            page.contains("<p>&lt;script&gt;</p>\r\n<hr />\r\n<address>AstPanel</address>\r\n")
        );
    }
}
