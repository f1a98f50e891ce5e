"""Phrase templates for tickets, replies, survey comments and reviews, written for juncture."""

# Every sentence here was written for the simulator (no text comes from a dataset). Texts are
# composed from an opener, one or two category sentences and a closer, with slots for order
# numbers, items, amounts and days: thousands of distinct texts from a few hundred patterns.

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

ITEMS = (
    "rain jacket", "hiking boots", "wool scarf", "running shoes", "backpack", "desk lamp",
    "coffee grinder", "linen shirt", "yoga mat", "winter coat", "phone case", "kettle",
    "sunglasses", "denim jeans", "sofa cushion", "bike helmet", "water bottle", "gift card",
    "kids' sneakers", "duvet cover", "headphones", "travel mug", "leather belt", "rug",
    "camping stove", "garden hose", "cookware set", "sweater", "wall clock", "tent",
)  # fmt: skip

OPENERS = (
    "Hi,", "Hello,", "Hello there,", "Good morning,", "Hi team,", "Dear support,", "Hey,",
    "Hi, hoping you can help.", "Hello, quick question.", "Hi again,", "Good afternoon,",
    "To whom it may concern,", "", "", "",
)  # fmt: skip

CLOSERS = (
    "Thanks.", "Thank you!", "Thanks in advance.", "Please advise.", "Can you help?",
    "Looking forward to your reply.", "Cheers.", "Kind regards.", "Please sort this out.",
    "I need an answer today, please.", "Appreciate it.", "Let me know what you need from me.",
    "", "",
)  # fmt: skip

CATEGORY_SENTENCES: dict[str, tuple[str, ...]] = {
    "delivery-status": (
        "Where is my order {order}? It was due {days} days ago.",
        "My {item} still shows 'preparing' after {days} days.",
        "Tracking for {order} has not moved since last week.",
        "The courier says delivered but there is no parcel at my door.",
        "Can you tell me when order {order} will arrive?",
        "I was promised next-day delivery and it has been {days} days.",
        "The tracking link for my {item} gives me nothing useful.",
        "Part of order {order} arrived, the {item} is missing.",
        "My parcel seems stuck at the depot.",
        "I need the {item} before the weekend, will it make it?",
        "The delivery slot I picked was missed and nobody called.",
        "Order {order} was sent to my old address by mistake.",
        "The courier left a card but I was home all day.",
        "It says out for delivery since yesterday morning.",
        "Can I collect order {order} at the depot myself?",
        "Two parcels were announced, only one arrived.",
        "The delivery estimate for my {item} keeps moving.",
    ),
    "returns": (
        "I want to return the {item} from order {order}.",
        "How do I send back a {item} that does not fit?",
        "The returns page will not let me choose a reason.",
        "I dropped off my return {days} days ago, has it arrived?",
        "Can I return the {item} in a store instead?",
        "The return label for {order} never came through.",
        "My {item} arrived damaged and I would like to return it.",
        "Is the return free if the {item} was a gift?",
        "I printed the label but the carrier refused the parcel.",
        "I sent the wrong item back by accident, what now?",
        "The returns window closed one day early for my {item}.",
        "Can I exchange the {item} for a different size instead?",
        "The return QR code does not scan at the drop-off point.",
        "Do I need the original box to return the {item}?",
        "I returned two items but only one shows as received.",
    ),
    "refund": (
        "I returned the {item} but have not been refunded yet.",
        "My refund of {amount} for {order} is still missing.",
        "You refunded the wrong amount for order {order}.",
        "When will the refund reach my card?",
        "I was told {days} days for a refund, it has been longer.",
        "The refund went to an old card I no longer use.",
        "Only part of my refund arrived for {order}.",
        "Can I get store credit instead of a refund?",
        "The refund was {amount} short of what I paid.",
        "My bank says no refund has been initiated for {order}.",
        "Please refund the shipping cost as well, the {item} was faulty.",
        "The refund for my cancelled order has not shown up.",
    ),
    "payment-issue": (
        "I was charged twice for order {order}.",
        "My card was declined although it works everywhere else.",
        "Payment of {amount} left my account but there is no order.",
        "The payment page keeps spinning and never finishes.",
        "Can I pay by invoice instead of card?",
        "My voucher code was not applied at payment.",
        "Apple Pay fails at the last step every time.",
        "The amount charged does not match the basket total.",
        "I got a payment error but my bank shows a pending charge.",
        "I cannot add a new card to my account.",
        "PayPal keeps sending me back to the basket.",
        "My gift card balance was not deducted correctly.",
        "I was charged in the wrong currency.",
        "The instalment option disappeared at the last step.",
    ),
    "order-change": (
        "Can I change the size of the {item} in order {order}?",
        "I need to change the delivery address for {order}.",
        "Please cancel order {order}, I ordered by mistake.",
        "Can I add a {item} to my existing order?",
        "I want to switch to express delivery for {order}.",
        "Please remove the {item} from order {order}.",
        "Can I change the colour before it ships?",
        "I chose the wrong pick-up point for {order}.",
        "Can I split order {order} into two deliveries?",
        "I would like to add gift wrapping to {order}.",
        "Please hold order {order} until I am back from holiday.",
    ),
    "product-question": (
        "Is the {item} waterproof?",
        "What size {item} would you recommend for me?",
        "When will the {item} be back in stock?",
        "Does the {item} come with a warranty?",
        "Is the {item} suitable for children?",
        "What material is the {item} made of?",
        "Are the colours of the {item} accurate in the photos?",
        "Can the {item} be washed in a machine?",
        "Do you sell spare parts for the {item}?",
        "Is there a bigger version of the {item}?",
        "Can I buy the {item} in bulk for my team?",
        "Is the {item} vegan?",
        "How heavy is the {item}?",
    ),
    "account-access": (
        "I cannot log in to my account.",
        "The password reset e-mail never arrives.",
        "My account got locked after a few attempts.",
        "I want to change the e-mail on my account.",
        "Please delete my account and my data.",
        "Two-factor codes are not reaching my phone.",
        "I have two accounts and want to merge them.",
        "My loyalty points disappeared from my account.",
        "I keep getting a 'session expired' message.",
        "Someone else seems to have logged in to my account.",
        "I never signed up but I get your newsletters.",
    ),
    "website-problem": (
        "The website shows an error when I try to check out.",
        "Search gives me no results for anything.",
        "Pages take forever to load today.",
        "I get 'something went wrong' on the product page.",
        "My basket keeps emptying itself.",
        "The site logs me out every few minutes.",
        "Filters on the category page do nothing.",
        "The checkout button does not respond.",
        "Prices show as zero on some pages.",
        "The size chart will not open.",
        "I cannot apply my promo code on the website.",
    ),
    "app-problem": (
        "The app crashes when I open my basket.",
        "The app is extremely slow since the last update.",
        "I cannot pay in the app, it just hangs.",
        "Push notifications stopped working for my orders.",
        "The app shows an old price for the {item}.",
        "Search in the app returns nothing.",
        "The app will not let me log in.",
        "Images do not load in the app.",
        "The app logs me out after every update.",
        "My basket in the app is different from the website.",
        "The app shows the wrong delivery date.",
    ),
    "complaint": (
        "I am very unhappy with how order {order} was handled.",
        "This is the third time I contact you about the same thing.",
        "Your courier was rude and left the {item} in the rain.",
        "Nobody has answered my e-mails for {days} days.",
        "The {item} is nothing like the description.",
        "I expected better service as a long-time customer.",
        "I was promised a call back that never happened.",
        "The quality of the {item} is really poor.",
        "I waited on hold for forty minutes.",
        "The packaging was excessive and wasteful.",
        "The promised discount was never applied.",
    ),
}

# Sentences for contacts that follow a failed session (an error or a very slow page).
TROUBLE_SENTENCES: dict[str, tuple[str, ...]] = {
    "payment-issue": (
        "I tried to pay three times and got an error each time.",
        "Payment failed but I think I was charged anyway.",
        "The payment step timed out, is my order placed?",
        "Your payment page just said 'try again later'.",
        "I could not complete my purchase, the payment kept failing.",
        "Card payment errors out at the very end, please check.",
        "I was charged but the page said the payment failed.",
        "The bank app approved it, your site said declined.",
    ),
    "website-problem": (
        "The checkout page threw an error and I lost my basket.",
        "The site is so slow I gave up on my order.",
        "I keep getting error pages when I try to check out.",
        "Search has been broken for the last hour.",
        "Adding to the basket fails with an error.",
        "Is the website down? Nothing loads properly.",
        "Every product page takes ages and then times out.",
        "My basket was emptied after an error message.",
    ),
    "app-problem": (
        "The app errors out at checkout.",
        "The app is unusably slow right now.",
        "I cannot add anything to my basket in the app, it fails.",
        "The app says 'service unavailable' when I try to pay.",
    ),
    "delivery-status": (
        "The tracking page shows an error for my order.",
        "I never got the delivery notification and tracking does not load.",
        "Tracking has been failing all day.",
        "The order status page will not load.",
    ),
    "returns": (
        "The returns page fails when I try to create a label.",
        "I get an error when I start a return.",
        "Creating a return label just spins and fails.",
    ),
    "refund": (
        "The refund step shows an error.",
        "My return was accepted but the refund page crashes.",
    ),
}

AGENT_REPLIES = (
    "Thanks for reaching out, I am looking into this now.",
    "Sorry for the trouble. I have checked your order and here is what I found.",
    "Thank you for your patience. I have escalated this to the right people.",
    "I understand how frustrating this is. Let me fix it for you.",
    "I have reissued the label; you should receive it within the hour.",
    "Your refund has been processed and should arrive in 3-5 working days.",
    "I have updated the address on your order.",
    "Could you send us a photo of the item so we can help?",
    "I can see the issue on our side and have corrected it.",
    "Thanks for letting us know. The order is now on its way.",
    "I have cancelled the duplicate charge; your bank may take a few days.",
    "We had a technical issue earlier; it is resolved now, please try again.",
    "I have applied the voucher and refunded the difference.",
    "The item is back in stock next week; I have reserved one for you.",
    "Please try clearing your app cache; if it persists, let me know.",
    "I have reset your password; check your inbox for the link.",
    "I am sorry about the delay, I have upgraded your delivery for free.",
    "Could you confirm the order number so I can check?",
    "I have passed your feedback to the team responsible.",
    "Good news: your parcel was located and will be delivered tomorrow.",
    "I have arranged a free collection of the item from your address.",
    "We have added a credit to your account for the inconvenience.",
    "I have sent a replacement; there is no need to return the original.",
    "Your order was split into two parcels; the second one ships today.",
    "I have checked with the carrier and booked a new delivery slot.",
    "That payment attempt did not go through, so you were not charged.",
    "I have merged your accounts and kept your loyalty points.",
    "The return has been received and the refund is on its way.",
    "Thanks for your patience during today's technical problems.",
    "I have updated your e-mail address as requested.",
)

REASSIGN_NOTES = (
    "Moving this to the team that handles it.",
    "Not ours, reassigning to the right queue.",
    "Wrong queue, forwarding.",
    "Passing this on to colleagues who own this topic.",
    "Transferring, this needs the specialist team.",
)

INTERNAL_NOTES = (
    "Customer has contacted us before about this order.",
    "Checked with the warehouse, awaiting their answer.",
    "Looks related to today's checkout issue.",
    "Gave a goodwill voucher.",
    "VIP customer, handle with priority.",
    "Carrier investigation opened.",
    "Asked payments team to verify the charge.",
    "Known issue, linked to the status page.",
    "Customer prefers e-mail over phone.",
    "Follow up in two days if no reply.",
)

CUSTOMER_FOLLOW_UPS = (
    "Here is the information you asked for.",
    "Thanks, attached is the photo.",
    "The order number is {order}.",
    "I tried again and it still does not work.",
    "Yes, please go ahead.",
    "Any update on this?",
    "That worked, thank you.",
)

REOPEN_TEXTS = (
    "This is not actually fixed, the problem is back.",
    "I still have not received my refund.",
    "The new label does not work either.",
    "You closed this but I never got an answer.",
    "Same issue again with order {order}.",
    "The replacement {item} is also faulty.",
    "Still waiting, please reopen.",
    "Your fix did not work.",
)

CSAT_POSITIVE = (
    "Quick and friendly, thank you.", "Solved in one go.", "Very helpful agent.",
    "Great service, problem fixed.", "Fast answer and clear explanation.",
    "Happy with the outcome.", "The agent went the extra mile.", "Easy and painless.",
    "Better than expected.", "Thanks for sorting it so fast.",
    "Clear answer, no back and forth.",
    "Friendly and competent.",
    "Refund came the same day, great.",
    "Felt listened to.",
)  # fmt: skip
CSAT_NEUTRAL = (
    "Fine, but it took a while.", "OK in the end.", "Resolved, though I had to explain twice.",
    "Average experience.", "Answer was correct but a bit slow.",
)  # fmt: skip
CSAT_NEGATIVE = (
    "Took far too long to get a reply.", "I was passed around between teams.",
    "The problem is not really solved.", "Nobody seemed to know what was going on.",
    "Your site was broken and support could not help.", "Waited on hold forever.",
    "I had to contact you several times.", "Unhelpful canned answers.",
    "Lost an order because of your outage.", "Very disappointing.",
    "Nobody told me about the delay.",
    "The answer did not match my question.",
    "Closed my ticket without fixing anything.",
    "Support could not see my order.",
)  # fmt: skip

CES_EASY = (
    "Checkout was quick.", "Smooth as always.", "Easy to pay.", "No problems at all.",
    "Saved card made it fast.", "Clear delivery options.", "Paying was effortless.",
)  # fmt: skip
CES_HARD = (
    "Payment failed twice before it worked.", "Checkout was painfully slow.",
    "Too many steps to pay.", "Got an error at the end.", "The page froze during payment.",
    "Had to enter my address twice.", "The voucher field did not work.",
)  # fmt: skip

NPS_PROMOTER = (
    "Great prices and fast delivery.", "I recommend you to all my friends.",
    "Always reliable.", "Love the app.", "Returns are so easy now.", "Excellent selection.",
    "Support really cares.", "Delivery is always on time.", "Checkout is quick and easy.",
)  # fmt: skip
NPS_PASSIVE = (
    "Good, but delivery could be faster.", "Decent, nothing special.",
    "Fine overall, the app could be better.", "Prices are OK.",
)  # fmt: skip
NPS_DETRACTOR = (
    "The site was down when I needed it.", "Support is too slow.",
    "My order was a mess.", "Checkout keeps failing.", "Refunds take forever.",
    "Too many problems lately.", "I lost money because of a failed payment.",
    "Nobody answers the phone.", "The app is getting worse.",
)  # fmt: skip

REVIEW_POSITIVE = (
    "Great shop, my {item} arrived in two days.", "Smooth checkout and friendly support.",
    "Five stars, the {item} is exactly as described.", "Easy returns, will order again.",
    "Good prices and the app is really handy.", "Fast delivery, well packed.",
    "Customer service solved my issue in minutes.", "Reliable as always.",
    "Love the new returns process, so simple.", "Great app, ordering takes a minute.",
    "The {item} was a perfect gift, thanks!", "Helpful chat support late at night.",
)  # fmt: skip
REVIEW_MIXED = (
    "The {item} is nice but delivery took a week.", "OK shop, app could be faster.",
    "Decent prices, support a bit slow.", "Fine, but the website is clunky.",
)  # fmt: skip
REVIEW_NEGATIVE = (
    "Checkout broken again, could not place my order.", "App keeps crashing at payment.",
    "Charged twice and still waiting for a refund.", "Never again, support ignored me.",
    "Site was down all evening.", "My {item} never arrived.",
    "Payment errors every time I try to buy.", "So slow it is unusable today.",
    "Search is broken, cannot find anything.", "Waited a week for a reply to my e-mail.",
    "Refund still missing after a month.", "The tracking page never works.",
)  # fmt: skip

Strings = npt.NDArray[np.object_]


def _fill(template: str, rng: np.random.Generator) -> str:
    if "{" not in template:
        return template
    return template.format(
        order=f"#{rng.integers(1_000_000, 9_999_999)}",
        item=ITEMS[int(rng.integers(len(ITEMS)))],
        days=int(rng.integers(2, 13)),
        amount=f"{rng.uniform(9, 300):.2f}",
    )


def _pick(options: Sequence[str], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


def ticket_texts(
    rng: np.random.Generator, categories: Sequence[str], trouble: Sequence[bool]
) -> list[str]:
    """Compose the customer's opening message of each ticket.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    categories : sequence of str
        Ticket category per ticket.
    trouble : sequence of bool
        Whether the ticket follows a failed session (uses the error sentences).

    Returns
    -------
    list of str
        One text per ticket.
    """
    texts: list[str] = []
    for category, bad in zip(categories, trouble, strict=True):
        pool = TROUBLE_SENTENCES.get(category) if bad else None
        body = _fill(_pick(pool or CATEGORY_SENTENCES[category], rng), rng)
        if rng.random() < 0.3:
            body = f"{body} {_fill(_pick(CATEGORY_SENTENCES[category], rng), rng)}"
        parts = (_pick(OPENERS, rng), body, _pick(CLOSERS, rng))
        texts.append(" ".join(p for p in parts if p))
    return texts


def pick_texts(rng: np.random.Generator, options: Sequence[str], n: int) -> list[str]:
    """Draw ``n`` texts from ``options`` with their slots filled.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    options : sequence of str
        Templates.
    n : int
        How many texts.

    Returns
    -------
    list of str
        The texts.
    """
    idx = rng.integers(len(options), size=n)
    return [_fill(options[i], rng) for i in idx.tolist()]


def graded_texts(
    rng: np.random.Generator,
    grades: npt.NDArray[np.int64],
    pools: Sequence[Sequence[str]],
) -> list[str]:
    """Draw one text per item from the pool named by its grade (0 = first pool).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    grades : ndarray of int
        Index into ``pools`` for each item.
    pools : sequence of sequences of str
        Template pools, e.g. negative, neutral, positive.

    Returns
    -------
    list of str
        The texts.
    """
    draws = rng.random(len(grades))
    out: list[str] = []
    for g, u in zip(grades.tolist(), draws.tolist(), strict=True):
        pool = pools[g]
        out.append(_fill(pool[int(u * len(pool))], rng))
    return out
