//! Deterministic generated text for the search-ranking cases: a vocabulary of made-up filler
//! words (consonant-vowel syllables, so never one of the English query words) from which texts of
//! a fixed length are drawn, with chosen words planted at random places.

/// Query words the ranking cases plant; filler words never equal them.
pub const QUERY_WORDS: [&str; 3] = ["refund", "invoice", "warehouse"];

const CONSONANTS: &[u8] = b"bdfgklmnprstvz";
const VOWELS: &[u8] = b"aeiou";

/// A seeded generator of filler texts (xorshift64*, so every backend sees the same corpus).
#[derive(Debug, Clone)]
pub struct Corpus {
    state: u64,
    vocabulary: Vec<String>,
}

impl Corpus {
    /// A generator with a vocabulary of `vocabulary` distinct filler words.
    pub fn new(seed: u64, vocabulary: usize) -> Self {
        let mut corpus = Self {
            state: seed.max(1),
            vocabulary: Vec::new(),
        };
        while corpus.vocabulary.len() < vocabulary {
            let word: String = (0..3)
                .flat_map(|_| {
                    let c = CONSONANTS[corpus.below(CONSONANTS.len())];
                    let v = VOWELS[corpus.below(VOWELS.len())];
                    [char::from(c), char::from(v)]
                })
                .collect();
            if !corpus.vocabulary.contains(&word) {
                corpus.vocabulary.push(word);
            }
        }
        corpus
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }

    /// `len` words: filler, with each of `planted` at a distinct random position.
    pub fn text(&mut self, len: usize, planted: &[&str]) -> String {
        assert!(planted.len() <= len);
        let mut words: Vec<String> = (0..len)
            .map(|_| {
                let i = self.below(self.vocabulary.len());
                self.vocabulary[i].clone()
            })
            .collect();
        let mut free: Vec<usize> = (0..len).collect();
        for word in planted {
            let slot = free.remove(self.below(free.len()));
            words[slot] = (*word).to_owned();
        }
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_deterministic_and_plant_words() {
        let a = Corpus::new(3, 50).text(20, &QUERY_WORDS);
        assert_eq!(a, Corpus::new(3, 50).text(20, &QUERY_WORDS));
        assert_eq!(a.split(' ').count(), 20);
        for word in QUERY_WORDS {
            assert_eq!(a.split(' ').filter(|w| *w == word).count(), 1);
        }
        let filler = Corpus::new(3, 50).text(200, &[]);
        assert!(
            QUERY_WORDS
                .iter()
                .all(|q| !filler.split(' ').any(|w| w == *q))
        );
    }
}
