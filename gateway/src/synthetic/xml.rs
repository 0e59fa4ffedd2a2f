//! S3 XML pieces shared by the synthetic gateway's answers: the header, the namespace,
//! escaping, and the error document.

use std::fmt::Write as _;

/// The declaration every answer starts with.
pub(crate) const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// S3's XML namespace.
pub(crate) const XML_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// `s` with XML's five special characters escaped.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// An S3 error document.
pub(crate) fn error(code: &str, message: &str, resource: &str, request_id: &str) -> String {
    let mut out = String::from(XML_HEAD);
    let _ = write!(
        out,
        "<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{}</RequestId></Error>",
        escape(code),
        escape(message),
        escape(resource),
        escape(request_id),
    );
    out
}

/// The ListBuckets answer for the one bucket.
pub(crate) fn list_buckets(bucket: &str, created: &str) -> String {
    let mut out = String::from(XML_HEAD);
    let _ = write!(
        out,
        "<ListAllMyBucketsResult xmlns=\"{XML_NS}\"><Owner><ID>haul-synthetic</ID><DisplayName>haul-synthetic</DisplayName></Owner><Buckets><Bucket><Name>{}</Name><CreationDate>{created}</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>",
        escape(bucket),
    );
    out
}

/// The GetBucketLocation answer: empty, which means us-east-1, as S3 answers for it.
pub(crate) fn location() -> String {
    format!("{XML_HEAD}<LocationConstraint xmlns=\"{XML_NS}\"/>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape("a<&>\"'b"), "a&lt;&amp;&gt;&quot;&apos;b");
        assert!(error("NoSuchKey", "no <key>", "/b/k", "1").contains("no &lt;key&gt;"));
    }
}
