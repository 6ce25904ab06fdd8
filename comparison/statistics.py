"""Is a change in a rate more than chance? The two-proportion z-test with a pooled
proportion, as textbooks teach it; `math.erfc` gives the normal tail, so no
statistics library is needed for one formula."""
import math

MIN_DENOMINATOR = 30  # dialogs each period needs in a rate's denominator before a change may be significant
SIGNIFICANCE = 0.05  # a change is significant when its two-sided p-value is below this


def two_proportion_z(hits_a, total_a, hits_b, total_b):
    """(z, two-sided p-value) of the difference between hits_a/total_a and
    hits_b/total_b; (0.0, 1.0) when the pooled proportion is 0 or 1 (no variance:
    nothing to tell apart)."""
    if not total_a or not total_b:
        raise ValueError("both periods need at least one dialog in the denominator")
    pooled = (hits_a + hits_b) / (total_a + total_b)
    variance = pooled * (1 - pooled) * (1 / total_a + 1 / total_b)
    if variance <= 0:
        return 0.0, 1.0
    z = (hits_a / total_a - hits_b / total_b) / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2))


def is_significant(hits_a, total_a, hits_b, total_b):
    """SPEC's rule: both denominators at least MIN_DENOMINATOR and p below SIGNIFICANCE."""
    if min(total_a, total_b) < MIN_DENOMINATOR:
        return False
    return two_proportion_z(hits_a, total_a, hits_b, total_b)[1] < SIGNIFICANCE
