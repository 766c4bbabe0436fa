"""
Filters of the follow-up mail's templates (issue 34: the tick renders thousands of mails a minute).

``urlize_words`` is Django's ``urlize``, word for word the same output, with each word's result
kept for the next mail: the instructor's text is the same in every learner's mail of a prompt, so
its words are linkified once per process instead of once per mail (``urlize`` was about half the
rendering's CPU). Only learners' own values (names, opt-out links) are new words each time.
"""
from functools import lru_cache

from django import template
from django.template.defaultfilters import stringfilter
from django.template.defaultfilters import urlize as django_urlize
from django.utils.html import urlizer
from django.utils.safestring import SafeData, mark_safe

register = template.Library()

# Words of a few busy prompts in a few languages fit many times over; learners' values churn through the rest.
WORDS_KEPT = 4096


@lru_cache(maxsize=WORDS_KEPT)
def _urlized_word(word):
    """
    One word as ``urlize`` (``nofollow``, autoescaped, of unsafe text) turns it: a pure function of
    the word, which is what makes keeping it safe across learners.
    """
    return urlizer.handle_word(word, safe_input=False, nofollow=True, autoescape=True)


@register.filter(is_safe=True, needs_autoescape=True)
@stringfilter
def urlize_words(value, autoescape=True):
    """
    ``{{ text|urlize }}``, byte for byte, cheaper on words seen before. Text already safe, or not
    autoescaped, goes to ``urlize`` itself (the mail's templates have neither).
    """
    if not autoescape or isinstance(value, SafeData):
        return django_urlize(value, autoescape=autoescape)
    return mark_safe("".join(_urlized_word(word) for word in urlizer.word_split_re.split(value)))
