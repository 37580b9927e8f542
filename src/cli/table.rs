//! Tables like `kubectl get`: uppercase headers, left-aligned columns three spaces apart, `-`
//! for an empty cell, no trailing spaces.

/// Renders `rows` under `headers`; every line ends with a newline.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let cell = |s: &str| -> String {
        // One line per row, whatever a message holds.
        let s = s.trim().replace(['\n', '\r', '\t'], " ");
        if s.is_empty() {
            "-".into()
        } else {
            s
        }
    };
    let header: Vec<String> = headers.iter().map(|h| h.to_uppercase()).collect();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            (0..headers.len())
                .map(|i| cell(r.get(i).map_or("", String::as_str)))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            std::iter::once(&header[i])
                .chain(body.iter().map(|r| &r[i]))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(body.iter()) {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            line += c;
            if i + 1 < row.len() {
                let pad = widths[i] - c.chars().count() + 3;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out += line.trim_end();
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn columns_are_aligned_three_spaces_apart_with_dashes_for_empty_cells() {
        let out = render(
            &["namespace", "name", "verified"],
            &[
                row(&["apps", "podinfo", "True"]),
                row(&["flux-system", "", "False"]),
            ],
        );
        assert_eq!(
            out,
            "NAMESPACE     NAME      VERIFIED\n\
             apps          podinfo   True\n\
             flux-system   -         False\n"
        );
    }

    #[test]
    fn no_rows_prints_only_the_header_and_short_rows_are_padded_with_dashes() {
        assert_eq!(render(&["a", "bb"], &[]), "A   BB\n");
        assert_eq!(render(&["a", "b"], &[row(&["x"])]), "A   B\nx   -\n");
    }

    #[test]
    fn a_cell_never_breaks_its_row_and_width_counts_characters() {
        let out = render(&["n", "m"], &[row(&["é", "two\nlines"]), row(&["ab", "z"])]);
        assert_eq!(out, "N    M\né    two lines\nab   z\n");
    }
}
