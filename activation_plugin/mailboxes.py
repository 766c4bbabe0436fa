"""
Email addresses compared as their providers deliver them, and pairs of learners who asked each
other to confirm their behaviour as supervisors (self-report with extra steps). Read by the api,
which refuses such invitations, and by the figures, which count the confirmations worth a second look.
"""
import functools
import operator

from django.db.models import Q

from activation_plugin.models import SupervisorInvite

# Domains one provider delivers to the same mailboxes: ann@googlemail.com reaches ann@gmail.com.
DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}
# Providers known to ignore dots in the local part: a.n.n@gmail.com reaches ann@gmail.com.
DOTLESS_DOMAINS = {"gmail.com"}


def mailbox(email):
    """
    The mailbox an address delivers to, for comparing addresses: case aside, a domain by the one it
    aliases, a quoted local part by its text, without a ``+tag`` (``ann+boss@example.com`` reaches
    ann@example.com at most providers), and without the dots the providers of ``DOTLESS_DOMAINS`` ignore.
    """
    local, _at, domain = (email or "").strip().lower().rpartition("@")
    domain = domain.rstrip(".")
    domain = DOMAIN_ALIASES.get(domain, domain)
    local = local[1:-1] if len(local) > 1 and local[0] == local[-1] == '"' else local
    local = local.split("+", 1)[0]
    if domain in DOTLESS_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def _domains_of(box):
    """The domains whose addresses may deliver to the mailbox ``box`` (its own and its aliases)."""
    domain = box.rpartition("@")[2]
    return {domain, *(alias for alias, target in DOMAIN_ALIASES.items() if target == domain)}


def invited_pairs(catalog_courses, addressed):
    """
    ``{(catalog course, invitee's mailbox, inviter's mailbox)}`` of the invitations in these courses
    addressed to any of the mailboxes ``addressed``, read in one query by their domains only.
    Compared mailbox to mailbox, ``+tag``, dot and alias variants do not hide a pair.
    """
    domains = set().union(*(_domains_of(box) for box in addressed))
    if not domains:
        return set()
    rows = SupervisorInvite.objects.filter(window__definition__catalog_course__in=catalog_courses).filter(
        functools.reduce(operator.or_, (Q(email__iendswith=f"@{domain}") for domain in domains)),
    ).values_list("window__definition__catalog_course", "email", "window__user__email")
    return {(course, mailbox(email), mailbox(learner_email)) for course, email, learner_email in rows
            if mailbox(email) in addressed}


def is_mutual(catalog_course, inviter, invitee, pairs):
    """Whether ``invitee`` (a learner too) invited ``inviter`` in this course: two confirming each other."""
    return (catalog_course, mailbox(inviter), mailbox(invitee)) in pairs
