// The schema the demo page sends with json chosen (OpenAI's `response_format` shape): small,
// but with every kind the json view handles: strings, an enum, integer, number, boolean, and
// arrays of strings and of objects, so the table shows nested rows as items complete.
export const EXAMPLE_FORMAT = {
  type: "json_schema",
  json_schema: {
    name: "trip_plan",
    schema: {
      type: "object",
      properties: {
        title: { type: "string" },
        city: { type: "string", enum: ["Lisbon", "Kyoto", "Oaxaca", "Tromsø"] },
        days: { type: "integer", minimum: 1, maximum: 14 },
        budget_eur: { type: "number", minimum: 0 },
        booked: { type: "boolean" },
        tags: { type: "array", items: { type: "string" }, maxItems: 5 },
        stops: {
          type: "array",
          items: {
            type: "object",
            properties: { name: { type: "string" }, hours: { type: "number", minimum: 0 } },
            required: ["name", "hours"],
            additionalProperties: false,
          },
          maxItems: 4,
        },
      },
      required: ["title", "city", "days", "budget_eur", "booked", "tags", "stops"],
      additionalProperties: false,
    },
  },
};
